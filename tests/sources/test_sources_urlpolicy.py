"""The URL allow-list, table by table: what is fetched, what is refused and why."""

from __future__ import annotations

import pytest

from monitor.sources.urlpolicy import URL_REASONS, UrlAllowList, UrlRefused, parse_prefix

PREFIX = "http://127.0.0.1:18999/aia/"
ALLOW = UrlAllowList([PREFIX, "https://[2001:db8::1]/nrt/"])

ALLOWED = [
    # (notified URL, URL actually requested)
    ("http://127.0.0.1:18999/aia/x.fits", "http://127.0.0.1:18999/aia/x.fits"),
    ("HTTP://127.0.0.1:18999/aia/x.fits", "http://127.0.0.1:18999/aia/x.fits"),
    ("http://127.0.0.1:18999/aia/sub/../x.fits", "http://127.0.0.1:18999/aia/x.fits"),
    ("http://127.0.0.1:18999/aia/./x.fits", "http://127.0.0.1:18999/aia/x.fits"),
    ("http://127.0.0.1:18999/aia/a%20b.fits", "http://127.0.0.1:18999/aia/a%20b.fits"),
    ("http://127.0.0.1:18999/aia/x.fits?rev=2", "http://127.0.0.1:18999/aia/x.fits?rev=2"),
    ("https://[2001:db8:0::1]:443/nrt/y.fits", "https://[2001:db8::1]/nrt/y.fits"),
]

REFUSED = [
    # userinfo hides the real host and sends credentials
    ("http://127.0.0.1:18999@127.0.0.1:18998/aia/evil.fits", "url_userinfo"),
    ("http://user:pw@127.0.0.1:18999/aia/x.fits", "url_userinfo"),
    # dot segments, plain and percent-encoded, leaving the directory
    ("http://127.0.0.1:18999/aia/../../secret/x.fits", "url_not_allowed"),
    ("http://127.0.0.1:18999/aia/%2e%2e/%2e%2e/secret/y.fits", "url_not_allowed"),
    ("http://127.0.0.1:18999/aia/%2E%2E/secret/y.fits", "url_not_allowed"),
    # double encoding: two parsers, two answers
    ("http://127.0.0.1:18999/aia/%252e%252e/%252e%252e/secret/y.fits", "url_ambiguous"),
    ("http://127.0.0.1:18999/aia/..%2fsecret.fits", "url_ambiguous"),
    ("http://127.0.0.1:18999/aia/x%00.fits", "url_ambiguous"),
    ("http://127.0.0.1:18999/aia/%ff.fits", "url_ambiguous"),
    ("http://127.0.0.1:18999/aia\\..\\secret.fits", "url_ambiguous"),
    # other ports, hosts, schemes
    ("http://127.0.0.1:18998/aia/x.fits", "url_not_allowed"),
    ("http://127.0.0.1/aia/x.fits", "url_not_allowed"),
    ("https://127.0.0.1:18999/aia/x.fits", "url_not_allowed"),
    ("http://localhost:18999/aia/x.fits", "url_not_allowed"),
    ("http://127.0.0.1:18999/aiax/x.fits", "url_not_allowed"),
    ("file:///etc/passwd", "url_scheme"),
    ("ftp://127.0.0.1:18999/aia/x.fits", "url_scheme"),
    ("gopher://127.0.0.1:18999/aia/x.fits", "url_scheme"),
    ("//127.0.0.1:18999/aia/x.fits", "url_scheme"),
    ("http:127.0.0.1:18999/aia/x.fits", "url_ambiguous"),
    # IPv6 literals and numeric host forms
    ("http://[::1]:18999/aia/x.fits", "url_not_allowed"),
    ("http://[::ffff:127.0.0.1]:18999/aia/x.fits", "url_not_allowed"),
    ("http://[fe80::1%25eth0]:18999/aia/x.fits", "url_ambiguous"),
    ("http://[::1:18999/aia/x.fits", "url_ambiguous"),
    ("http://2130706433:18999/aia/x.fits", "url_ambiguous"),
    ("http://0x7f.1:18999/aia/x.fits", "url_ambiguous"),
    ("http://127.1:18999/aia/x.fits", "url_ambiguous"),
    ("http://127.0.0.1.:18999/aia/x.fits", "url_ambiguous"),
    ("http://exa%6dple.com/aia/x.fits", "url_ambiguous"),
    # ports and characters
    ("http://127.0.0.1:0/aia/x.fits", "url_ambiguous"),
    ("http://127.0.0.1:99999/aia/x.fits", "url_ambiguous"),
    ("http://127.0.0.1:+18999/aia/x.fits", "url_ambiguous"),
    ("http://127.0.0.1:18999/aia/x.fits#frag", "url_ambiguous"),
    ("http://127.0.0.1:18999/aia/x y.fits", "url_ambiguous"),
    ("http://127.0.0.1:18999/aia/\u00e9.fits", "url_ambiguous"),
    ("http://127.0.0.1:18999/aia/x.fits\n", "url_ambiguous"),
    ("http://127.0.0.1:18999/aia/" + "a" * 5000, "url_ambiguous"),
    ("", "url_ambiguous"),
    (None, "url_ambiguous"),
]


@pytest.mark.parametrize(("url", "requested"), ALLOWED)
def test_allowed_urls_are_requested_in_normal_form(url: str, requested: str) -> None:
    assert ALLOW.check(url).url == requested


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_refused_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused) as caught:
        ALLOW.check(url)
    assert caught.value.reason == reason
    assert reason in URL_REASONS


@pytest.mark.parametrize(("current", "location", "reason"), [
    ("http://127.0.0.1:18999/aia/x.fits", "http://127.0.0.1:18998/aia/x.fits", "url_not_allowed"),
    ("http://127.0.0.1:18999/aia/x.fits", "//evil.example/aia/x.fits", "url_not_allowed"),
    ("http://127.0.0.1:18999/aia/x.fits", "../secret/x.fits", "url_not_allowed"),
    ("http://127.0.0.1:18999/aia/x.fits", "file:///etc/passwd", "url_scheme"),
])
def test_redirect_targets_are_checked_like_notified_urls(current: str, location: str,
                                                         reason: str) -> None:
    with pytest.raises(UrlRefused) as caught:
        ALLOW.check_redirect(current, location)
    assert caught.value.reason == reason
    assert ALLOW.check_redirect(current, "y.fits").url == "http://127.0.0.1:18999/aia/y.fits"


def test_a_prefix_without_slash_is_still_a_directory_not_a_name_prefix() -> None:
    allow = UrlAllowList(["http://h.example/aia"])
    assert allow.check("http://h.example/aia/x.fits").file_name == "x.fits"
    with pytest.raises(UrlRefused):
        allow.check("http://h.example/aiaevil/x.fits")
    assert not parse_prefix("http://h.example/aia").directory
    assert parse_prefix("http://h.example/aia/").directory


@pytest.mark.parametrize("prefix", ["ftp://h/", "http://u@h/", "http://h/?q=1", "h/aia/"])
def test_prefixes_that_are_not_plain_http_urls_are_refused(prefix: str) -> None:
    with pytest.raises(UrlRefused):
        parse_prefix(prefix)
