"""Certificates for the fake servers of the HTTPS fan-out, as real servers have them: a bench
certificate authority, trusted by the hub's delivery workers through SSL_CERT_FILE, and one
certificate per server naming only that server (the hub's client checks each, as in production).

One certificate naming all 1,000 servers would be 9 KB and cost the client about three times the
CPU of a one-name certificate in every handshake, which no real server makes it pay."""

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Hosts = dict[str, tuple[str, str]]  # host → (certificate path, key path)


def certificates_for(addresses: list[tuple[str, int]], directory: Path) -> tuple[str, Hosts]:
    """(the authority's certificate path, each host's certificate and key paths), valid for a day."""
    now = datetime.datetime.now(datetime.UTC)
    authority_key = ec.generate_private_key(ec.SECP256R1())
    authority_name = _name("CSO Hub bench authority")
    authority = (_builder(authority_name, authority_key.public_key(), now).subject_name(authority_name)
                 .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                 .sign(authority_key, hashes.SHA256()))
    authority_path = directory / "sinks-authority.pem"
    authority_path.write_bytes(authority.public_bytes(serialization.Encoding.PEM))
    # One key for every server: what differs between real servers' handshakes is the certificate.
    server_key = ec.generate_private_key(ec.SECP256R1())
    key_path = directory / "sinks.key"
    key_path.write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    hosts: Hosts = {}
    for host in sorted({host for host, _ in addresses}):
        certificate = (_builder(authority_name, server_key.public_key(), now).subject_name(_name(host))
                       .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                                      critical=False)
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                       .sign(authority_key, hashes.SHA256()))
        path = directory / f"sink-{host}.pem"
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        hosts[host] = (str(path), str(key_path))
    return str(authority_path), hosts


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(issuer: x509.Name, public_key, now: datetime.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)))
