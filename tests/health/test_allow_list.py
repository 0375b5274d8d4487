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


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64, the well-known prefix: 127.0.0.1
        "64:ff9b::127.0.0.1",  # the same, written with its IPv4
        "64:ff9b::a9fe:a9fe",  # 169.254.169.254: the metadata service
        "2002:7f00:1::1",  # 6to4: 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4: 169.254.169.254
        "64:ff9b:1::7f00:1",  # local-use NAT64 with a /96 prefix: 127.0.0.1
        "64:ff9b:1:7f00:0:100::",  # local-use NAT64 with a /48 prefix: 127.0.0.1
    ],
)
def test_nat64_and_6to4_addresses_are_judged_as_the_ipv4_they_lead_to(address: str) -> None:
    by_name = DEFAULT.refusal("self.vm.vers.sh", [ip("10.0.0.1"), ip(address)])
    assert by_name is not None and "only probed if listed by network" in by_name
    assert DEFAULT.refusal(address, [ip(address)]) is not None
    assert AllowList.parse(["::/0"]).refusal(address, [ip(address)]) is not None


@pytest.mark.parametrize(
    ("allow", "address", "admitted"),
    [
        (["127.0.0.0/8"], "64:ff9b::7f00:1", True),  # loopback listed: admitted as loopback
        (["127.0.0.0/8"], "2002:7f00:1::1", True),
        (["10.0.0.0/8"], "64:ff9b::a00:5", True),
        (["10.0.0.0/8"], "64:ff9b::b00:5", False),
        (["10.0.0.0/8"], "2002:a00:5::1", True),
        (["64:ff9b::/96"], "64:ff9b::7f00:1", True),  # the NAT64 prefix itself, by network
        (["2002::/16"], "2002:a9fe:a9fe::", True),
        # Local use: the IPv4 may sit in four places; every reading must be in the list.
        (["127.0.0.0/8"], "64:ff9b:1::7f00:1", False),
        (["0.0.0.0/0"], "64:ff9b:1::7f00:1", True),
        (["64:ff9b:1:ab::/96"], "64:ff9b:1:ab::7f00:1", True),
    ],
)
def test_networks_judge_nat64_and_6to4_addresses_by_the_ipv4_they_lead_to(
    allow: list[str], address: str, admitted: bool
) -> None:
    refusal = AllowList.parse(allow).refusal(address, [ip(address)])
    assert (refusal is None) == admitted, refusal


def test_a_nat64_refusal_names_the_ipv4_it_leads_to() -> None:
    refusal = DEFAULT.refusal("self.vm.vers.sh", [ip("64:ff9b::7f00:1")])
    assert refusal == (
        "self.vm.vers.sh resolves to 64:ff9b::7f00:1 (which leads to 127.0.0.1), "
        "which is only probed if listed by network"
    )


def test_addresses_outside_the_translated_blocks_stay_ipv6() -> None:
    allow = AllowList.parse(["2001:db8::/32", "*.vm.vers.sh"])
    assert allow.refusal("2001:db8::7f00:1", [ip("2001:db8::7f00:1")]) is None
    assert DEFAULT.refusal("v6.vm.vers.sh", [ip("64:ff9c::7f00:1")]) is None
