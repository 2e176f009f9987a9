"""federation.sanitize: Mastodon's allow-list against nasty inputs, plain text and display names."""

import pytest

from federation.sanitize import clean_display_name, plain_text, sanitize_html, to_text


def test_mastodon_mention_and_hashtag_markup_survive():
    html = ('<p><span class="h-card"><a href="https://masto.example/@ana" class="u-url mention">'
            '@<span>ana</span></a></span> <a href="https://masto.example/tags/ເດັ່ນ" class="mention hashtag" '
            'rel="tag">#<span>ເດັ່ນ</span></a> <a href="https://example.org/long/path">'
            '<span class="invisible">https://</span><span class="ellipsis">example.org/lo</span>'
            '<span class="invisible">ng/path</span></a></p>')
    out = sanitize_html(html)
    assert '<span class="h-card">' in out
    assert 'class="u-url mention"' in out
    assert "#<span>ເດັ່ນ</span>" in out
    assert '<span class="invisible">https://</span><span class="ellipsis">' in out


def test_links_get_rel_and_target():
    out = sanitize_html('<a href="https://a.example/x" rel="me" target="_self">x</a>')
    assert 'rel="nofollow noopener noreferrer"' in out
    assert 'target="_blank"' in out
    assert "_self" not in out and '"me"' not in out


@pytest.mark.parametrize("html", [
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" JaVaScRiPt:alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="/relative/path">x</a>',
    '<a href="//evil.example/x">x</a>',
    '<a href="ftp://files.example/x">x</a>',
])
def test_only_absolute_http_links_keep_their_href(html):
    out = sanitize_html(html)
    assert "href" not in out
    assert ">x</a>" in out


@pytest.mark.parametrize(("html", "gone"), [
    ("<script>alert(1)</script>hello", "alert"),
    ("<style>body{display:none}</style>hello", "display"),
    ('<iframe src="https://evil.example"></iframe>hello', "iframe"),
    ("<svg><script>alert(1)</script><circle onload=alert(1)/></svg>hello", "alert"),
    ('<svg><a href="javascript:alert(1)">x</a></svg>hello', "javascript"),
    ('<math><mi xlink:href="javascript:alert(1)">x</mi></math>hello', "javascript"),
    ('<img src="x" onerror="alert(1)">hello', "onerror"),
    ('<p onclick="alert(1)" style="color:red">hello</p>', "onclick"),
    ('<p style="position:fixed">hello</p>', "style"),
    ('<object data="x.swf"></object><embed src="x">hello', "swf"),
    ('<form action="https://evil.example"><input name=p></form>hello', "form"),
    ("<!-- <script>alert(1)</script> -->hello", "script"),
    ("<scr<script>ipt>alert(1)</script>hello", "<script"),
    ('<a href="https://a.example" onmouseover="alert(1)">hello</a>', "onmouseover"),
    ('<span class="invisible h-card x-evil" id="top">hello</span>', "x-evil"),
    ('<meta http-equiv="refresh" content="0;url=https://evil.example">hello', "refresh"),
    ('<base href="https://evil.example/">hello', "base"),
    ("<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>hello", "onerror"),
    ('<textarea><script>alert(1)</script></textarea>hello', "alert"),
])
def test_dangerous_markup_is_removed(html, gone):
    out = sanitize_html(html)
    assert gone not in out
    assert "hello" in out


def test_unknown_tags_keep_their_text():
    assert sanitize_html("<h1>Title</h1><div><table><tr><td>cell</td></tr></table></div>") == "Titlecell"


def test_allowed_formatting_survives():
    html = ("<p>a<br>b</p><blockquote><p><strong>s</strong> <b>b</b> <em>e</em> <i>i</i> <u>u</u> "
            "<del>d</del></p></blockquote><pre><code>x &lt; y</code></pre>"
            '<ol start="3" reversed><li value="5">one</li></ol><ul><li>two</li></ul>')
    assert sanitize_html(html) == html.replace("reversed>", 'reversed="">')


def test_ordered_list_numbers_must_be_numbers():
    assert sanitize_html('<ol start="x"><li value="javascript:1">a</li></ol>') == "<ol><li>a</li></ol>"


def test_empty_and_non_strings():
    assert sanitize_html("") == ""
    assert sanitize_html(None) == ""
    assert plain_text(None) == ""
    assert to_text(5) == ""


def test_to_text_keeps_entities_escaped_and_breaks_as_newlines():
    assert to_text("<p>a &amp; b</p><p>c<br/>d</p><script>x</script>") == "a &amp; b\nc\nd"
    assert to_text("1 < 2 <b>bold</b>") == "1 &lt; 2 bold"


def test_plain_text_decodes_and_removes_bidi_overrides():
    assert plain_text("<p>ສະບາຍດີ &amp; &lt;hello&gt;</p>") == "ສະບາຍດີ & <hello>"
    assert plain_text("<p>safe\u202egnp.exe</p>") == "safegnp.exe"
    assert plain_text("&#x202E;x") == "x"


@pytest.mark.parametrize(("name", "expected"), [
    ("Ana \u202eevil\u202c", "Ana evil"),
    ("\u2066\u2067\u2068iso\u2069", "iso"),
    ("  spaced \n\t out  ", "spaced out"),
    ("bell\x07 and\x00 nul\x1b", "bell and nul"),
    ("ສູນ ພັດທະນາ", "ສູນ ພັດທະນາ"),
    ("مرحبا\u200f ok", "مرحبا\u200f ok"),
    (None, ""),
])
def test_clean_display_name(name, expected):
    assert clean_display_name(name) == expected


def test_display_name_is_capped():
    assert len(clean_display_name("x" * 5000)) == 2048
    assert clean_display_name("abcdef", limit=3) == "abc"
