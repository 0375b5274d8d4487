"""Which addresses the health checker may contact (`serve --health-check-allow`).

Health checks make the registry send requests to addresses its clients supply, so a client
could point it at anything the registry can reach: a cloud metadata service, an admin port on
the internal network. The allow-list bounds that (docs/security.md). An entry is an IP address
or network (`10.0.0.0/8`, `::1`), a host name (`infra.internal`), or a domain wildcard
(`*.vm.vers.sh`, any name under that domain but not the domain itself).

A target is checked twice: its name against the list, then every address the name resolves to.
A name the list admits by name may resolve anywhere except the addresses no registry should
probe unless told to by network (loopback, which is the registry's own host; link-local, which
holds the metadata services; unspecified, multicast and broadcast addresses); a name the list
does not admit is allowed only if all its addresses are in listed networks. The probe then
connects to the address that was checked, never resolving again, so a DNS answer that changes
between check and connect (DNS rebinding) cannot steer it elsewhere.

Every address is normalised before it is checked: an IPv4-mapped (`::ffff:169.254.169.254`) or
IPv4-compatible (`::169.254.169.254`) IPv6 address is the IPv4 address it carries, judged by the
IPv4 rules (a dual-stack socket connecting to a mapped address reaches that IPv4 address), and
the probe connects to the normalised address, the one that was checked.

NAT64 (`64:ff9b::/96`, and the local-use `64:ff9b:1::/48`) and 6to4 (`2002::/16`) addresses
carry an IPv4 address too, but reach it through a translator or relay, so the probe keeps
connecting to the IPv6 address (an IPv6-only host has no other way) while the check judges
the IPv4 it leads to: `64:ff9b::7f00:1` is loopback. Inside `64:ff9b:1::/48` the operator
picks the prefix length, and with it where the IPv4 sits (RFC 6052, 2.2), so every place it
could sit is a reading, and each reading must pass. A listed network inside one of these
blocks (the operator's own NAT64 prefix) admits its addresses as they are: that was asked for
by network; a wider listed network (`::/0`) does not reach into them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from vm_registry.settings import DEFAULT_ALLOW

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = ["DEFAULT_ALLOW", "AllowList", "AllowListError"]

# Never probed through a name, only when a listed network contains them.
_NEVER_BY_NAME: Final = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",  # loopback: the registry's own host (its other ports, its admin tools)
        "::1/128",
        "169.254.0.0/16",  # IPv4 link-local: cloud metadata services live here
        "fe80::/10",
        "0.0.0.0/8",
        "::/128",
        "224.0.0.0/4",
        "ff00::/8",
        "255.255.255.255/32",
    )
)

_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_HOST_NAME: Final = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")


class AllowListError(ValueError):
    """An entry of the allow-list that is neither a network, a name nor a `*.` wildcard."""


def parse_ip(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def normalised(address: IpAddress) -> IpAddress:
    """The IPv4 address an IPv4-mapped or IPv4-compatible IPv6 address carries; any other
    address as it is. `::` and `::1` are compatible in form only: they stay themselves."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    mapped = address.ipv4_mapped
    if mapped is not None:
        return mapped
    value = int(address)
    if value >> 32 == 0 and value > 1:  # ::a.b.c.d, deprecated but still parsed and routed
        return ipaddress.IPv4Address(value)
    return address


# The IPv6 blocks whose addresses lead to an IPv4 address through a translator or relay.
_NAT64_WELL_KNOWN: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
_SIX_TO_FOUR: Final = ipaddress.IPv6Network("2002::/16")
_CARRIERS: Final = (_NAT64_WELL_KNOWN, _NAT64_LOCAL, _SIX_TO_FOUR)
# RFC 6052, 2.2: the bytes holding the IPv4 address for each prefix length that fits in
# 64:ff9b:1::/48 (byte 8 is reserved and always skipped).
_NAT64_LOCAL_LAYOUTS: Final = ((6, 7, 9, 10), (7, 9, 10, 11), (9, 10, 11, 12), (12, 13, 14, 15))


def carried_ipv4(address: IpAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses a NAT64 or 6to4 address may lead to (one, but for the local-use
    NAT64 block, whose layout is the operator's choice); none for any other address."""
    if isinstance(address, ipaddress.IPv4Address):
        return ()
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address in _NAT64_WELL_KNOWN:
        return (ipaddress.IPv4Address(address.packed[12:]),)
    if address in _NAT64_LOCAL:
        packed = address.packed
        return tuple(
            ipaddress.IPv4Address(bytes(packed[i] for i in layout))
            for layout in _NAT64_LOCAL_LAYOUTS
        )
    return ()


def _inside_a_carrier(network: IpNetwork) -> bool:
    return isinstance(network, ipaddress.IPv6Network) and any(
        network.subnet_of(block) for block in _CARRIERS
    )


def is_host_name(text: str) -> bool:
    return len(text) <= 253 and _HOST_NAME.match(text) is not None


_MAPPED: Final = ipaddress.IPv6Network("::ffff:0:0/96")


def _plain_network(network: IpNetwork) -> IpNetwork:
    """A listed network of IPv4-mapped addresses as the IPv4 network it means, since addresses
    are normalised before they are compared with it."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        base = int(network.network_address) & 0xFFFFFFFF
        return ipaddress.IPv4Network((base, network.prefixlen - 96))
    return network


@dataclass(frozen=True, slots=True)
class AllowList:
    networks: tuple[IpNetwork, ...]
    names: frozenset[str]
    domains: tuple[str, ...]  # ".vm.vers.sh" for "*.vm.vers.sh"

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        networks: list[IpNetwork] = []
        names: set[str] = set()
        domains: list[str] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry.startswith("*."):
                if not is_host_name(entry[2:]):
                    raise AllowListError(f"{raw!r} is not a domain wildcard such as *.vm.vers.sh")
                domains.append("." + entry[2:].rstrip("."))
                continue
            try:
                networks.append(
                    _plain_network(ipaddress.ip_network(entry.strip("[]"), strict=False))
                )
                continue
            except ValueError:
                pass
            if not is_host_name(entry):
                raise AllowListError(
                    f"{raw!r} is not an IP address, network, host name or *.domain wildcard"
                )
            names.add(entry.rstrip("."))
        return cls(tuple(networks), frozenset(names), tuple(domains))

    def admits_name(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.names or any(name.endswith(d) for d in self.domains)

    def admits_address(self, address: IpAddress) -> bool:
        plain = normalised(address)
        carried = carried_ipv4(plain)
        if not carried:
            return self._in_networks(plain)
        if any(plain in n for n in self.networks if _inside_a_carrier(n)):
            return True
        return all(self._in_networks(ipv4) for ipv4 in carried)

    def _in_networks(self, address: IpAddress) -> bool:
        return any(address in network for network in self.networks)

    def refusal(self, host: str, resolved: Sequence[IpAddress]) -> str | None:
        """Why `host`, resolved to `resolved`, may not be probed; None if it may."""
        literal = parse_ip(host)
        if literal is not None:
            if self.admits_address(literal):
                return None
            return f"{_shown(normalised(literal))} is outside the health-check allow-list"
        by_name = self.admits_name(host)
        for given in resolved:
            address = normalised(given)
            if self.admits_address(address):
                continue
            if not by_name:
                return f"{host} ({_shown(address)}) is outside the health-check allow-list"
            readings = carried_ipv4(address) or (address,)
            if any(r in network for r in readings for network in _NEVER_BY_NAME):
                return (
                    f"{host} resolves to {_shown(address)}, which is only probed if listed by "
                    "network"
                )
        return None


def _shown(address: IpAddress) -> str:
    carried = carried_ipv4(address)
    if not carried:
        return str(address)
    return f"{address} (which leads to {' or '.join(str(ipv4) for ipv4 in carried)})"
