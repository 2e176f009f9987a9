"""Which network addresses outgoing requests may reach: resolve once, refuse private, loopback,
link-local, unspecified, multicast and reserved addresses (also inside IPv6 forms) and odd IPv4
notations, unless an operator allowed the network (tests on loopback)."""

import ipaddress
import socket

from federation.errors import Unresolvable, UnsafeAddress

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address (embedded IPv4 addresses are judged themselves)."""
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return _is_public(ip.ipv4_mapped)
        if ip in _NAT64:
            return _is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not _is_public(ip.sixtofour):
            return False
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                 or ip.is_reserved or ip.is_unspecified)


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address when the host is an IP address in standard notation (an IPv6 zone dropped)."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None


def odd_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host names in a notation resolvers accept, such as 2130706433 or 127.1."""
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


MAX_VERDICTS = 10_000


class AddressPolicy:
    """Which addresses outgoing requests may reach: public ones, plus the allowed networks (CIDRs)."""

    def __init__(self, allowed_networks: list[str] | tuple[str, ...] = ()):
        self.allowed = [ipaddress.ip_network(net.strip(), strict=False)
                        for net in (allowed_networks or []) if net and net.strip()]
        self._verdicts: dict = {}  # a fan-out vets thousands of connections to the same addresses

    def allows(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        """True when the address is public or inside an allowed network."""
        verdict = self._verdicts.get(ip)
        if verdict is None:
            if len(self._verdicts) >= MAX_VERDICTS:
                self._verdicts.clear()
            verdict = self._verdicts[ip] = self._judge(ip)
        return verdict

    def _judge(self, ip) -> bool:
        candidates = [ip] + ([ip.ipv4_mapped] if ip.version == 6 and ip.ipv4_mapped else [])
        if any(c in net for c in candidates for net in self.allowed if c.version == net.version):
            return True
        return _is_public(ip)

    def vet(self, host: str, port: int) -> list[str]:
        """Resolve host once; the addresses to connect to, or UnsafeAddress if any is refused."""
        host = (host or "").strip().strip("[]").lower()
        if not host:
            raise UnsafeAddress("no host")
        literal = ip_literal(host)
        if literal is None:
            odd = odd_ipv4(host)
            if odd is not None and not any(odd in net for net in self.allowed if net.version == 4):
                raise UnsafeAddress(f"{host} is an IP address in an odd notation")
        if literal is not None:
            if not self.allows(literal):
                raise UnsafeAddress(f"{host} is not a public address")
            return [str(literal)]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError) as exc:
            raise Unresolvable(f"cannot resolve {host}: {exc}") from exc
        addresses: list[str] = []
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if not self.allows(ip):
                raise UnsafeAddress(f"{host} resolves to {ip}, which is not a public address")
            if str(ip) not in addresses:
                addresses.append(str(ip))
        if not addresses:
            raise Unresolvable(f"{host} has no address")
        return addresses
