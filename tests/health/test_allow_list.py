from __future__ import annotations

import ipaddress

import pytest

from vm_registry.service.allow_list import DEFAULT_ALLOW, AllowList, AllowListError

DEFAULT = AllowList.parse(DEFAULT_ALLOW)


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


LOOPBACK = AllowList.parse(["127.0.0.0/8", "::1", "localhost", "*.vm.vers.sh"])


@pytest.mark.parametrize(
    ("host", "resolved"),
    [
        ("abc-123.vm.vers.sh", ["10.1.2.3"]),
        ("ABC-123.VM.VERS.SH.", ["172.16.0.9"]),
        ("v6.vm.vers.sh", ["2001:db8::1"]),
    ],
)
def test_the_default_admits_the_fleet_domain(host: str, resolved: list[str]) -> None:
    assert DEFAULT_ALLOW == ("*.vm.vers.sh",)
    assert DEFAULT.refusal(host, [ip(a) for a in resolved]) is None


@pytest.mark.parametrize(
    ("host", "resolved"),
    [
        ("127.0.0.1", ["127.0.0.1"]),
        ("::1", ["::1"]),
        ("localhost", ["127.0.0.1", "::1"]),
        ("[::ffff:127.0.0.1]", ["::ffff:127.0.0.1"]),
        ("self.vm.vers.sh", ["127.0.0.1"]),
        ("self.vm.vers.sh", ["::ffff:127.0.0.1"]),
        ("self.vm.vers.sh", ["::1"]),
    ],
)
def test_the_default_refuses_loopback_which_is_probed_only_when_listed(
    host: str, resolved: list[str]
) -> None:
    addresses = [ip(a) for a in resolved]
    assert DEFAULT.refusal(host, addresses) is not None
    assert LOOPBACK.refusal(host, addresses) is None


@pytest.mark.parametrize(
    "resolved",
    [
        "::ffff:169.254.169.254",  # IPv4-mapped: the metadata service
        "::ffff:a9fe:a9fe",  # the same, written in hex
        "::169.254.169.254",  # IPv4-compatible
        "::ffff:0.0.0.0",
        "::ffff:224.0.0.1",
        "::ffff:255.255.255.255",
        "::ffff:127.0.0.1",
        "::127.0.0.1",
    ],
)
def test_a_fleet_name_resolving_to_a_mapped_address_is_judged_as_its_ipv4(resolved: str) -> None:
    refusal = DEFAULT.refusal("meta.vm.vers.sh", [ip("10.0.0.1"), ip(resolved)])
    assert refusal is not None
    assert "only probed if listed by network" in refusal


@pytest.mark.parametrize(
    ("allow", "host", "resolved", "admitted"),
    [
        (["10.0.0.0/8"], "svc.example", ["::ffff:10.1.2.3"], True),
        (["10.0.0.0/8"], "::ffff:10.1.2.3", ["::ffff:10.1.2.3"], True),
        (["10.0.0.0/8"], "svc.example", ["::ffff:11.1.2.3"], False),
        (["::ffff:10.0.0.0/104"], "10.1.2.3", ["10.1.2.3"], True),  # a mapped network, too
        (["*.vm.vers.sh"], "::ffff:169.254.169.254", ["::ffff:169.254.169.254"], False),
        (["169.254.0.0/16"], "::ffff:169.254.169.254", ["::ffff:169.254.169.254"], True),
    ],
)
def test_networks_judge_mapped_addresses_by_the_ipv4_they_carry(
    allow: list[str], host: str, resolved: list[str], admitted: bool
) -> None:
    refusal = AllowList.parse(allow).refusal(host, [ip(a) for a in resolved])
    assert (refusal is None) == admitted, refusal


@pytest.mark.parametrize(
    ("host", "resolved", "why"),
    [
        ("10.0.0.5", ["10.0.0.5"], "10.0.0.5 is outside"),
        ("169.254.169.254", ["169.254.169.254"], "outside"),
        ("example.com", ["93.184.216.34"], "example.com (93.184.216.34) is outside"),
        ("vm.vers.sh", ["10.0.0.1"], "outside"),  # the wildcard is for names under it
        ("evilvm.vers.sh", ["10.0.0.1"], "outside"),
        ("x.vm.vers.sh.evil.com", ["10.0.0.1"], "outside"),
        # A fleet name pointing at the metadata service is refused: only networks admit that.
        ("meta.vm.vers.sh", ["169.254.169.254"], "only probed if listed by network"),
        ("meta.vm.vers.sh", ["10.0.0.1", "fe80::1"], "only probed if listed by network"),
        # A name outside the list is judged by every address it resolves to.
        ("sneaky.example", ["10.0.0.1"], "(10.0.0.1) is outside"),
    ],
)
def test_the_default_refuses_everything_else(host: str, resolved: list[str], why: str) -> None:
    refusal = DEFAULT.refusal(host, [ip(a) for a in resolved])
    assert refusal is not None
    assert why in refusal


def test_networks_admit_names_that_resolve_into_them_and_listed_link_local() -> None:
    allow = AllowList.parse(["10.0.0.0/8", "169.254.0.0/16", "db.internal"])
    assert allow.refusal("svc.example", [ip("10.9.9.9")]) is None
    assert allow.refusal("169.254.1.1", [ip("169.254.1.1")]) is None
    assert allow.refusal("db.internal", [ip("192.168.1.1")]) is None
    assert allow.refusal("db.internal.", [ip("192.168.1.1")]) is None
    assert allow.refusal("other.internal", [ip("192.168.1.1")]) is not None
    assert allow.refusal("127.0.0.1", [ip("127.0.0.1")]) is not None  # the list replaces


@pytest.mark.parametrize("entry", ["*.", "*.-bad-", "not a host", "10.0.0.0/33", "a..b"])
def test_a_malformed_entry_is_refused_by_name(entry: str) -> None:
    with pytest.raises(AllowListError, match="is not"):
        AllowList.parse([entry])
