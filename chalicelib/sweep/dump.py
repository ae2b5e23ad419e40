"""Saved describe output, for ``sgguard audit --from``: what an auditor is handed instead of access.

Each file holds what ``aws ec2 describe-security-group-rules``, ``describe-security-groups``,
``describe-network-interfaces`` or ``describe-managed-prefix-lists`` printed (plain or gzip; one page or
several in a row; a bare array from ``--query``). Which is which is told by the content (the response's
array member, or the fields of a bare array's first entry), never by the file's name.

Memory stays bounded whatever the dump's size: the groups, interfaces and prefix lists (small: one per
group, interface or list) are read first, then the rules are streamed entry by entry, each converted
once into the canonical :class:`~chalicelib.rules.Rule`. An entry or a file that cannot be read is a
:class:`Problem` naming the file, the entry and the field; reading goes on with the next one, and the
command exits 2 at the end: an unread rule is never a pass.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from chalicelib import jsonstream, sources
from chalicelib.rules import PrefixList, Rule, canonical_cidr
from chalicelib.sweep.describe import (
    DescribeError,
    GroupFacts,
    Interface,
    checked_rule,
    group_from_describe,
    interface_from_describe,
)

Kind = Literal["rules", "groups", "interfaces", "prefix lists", "entries"]
ARRAYS: Mapping[str, Kind] = {
    "SecurityGroupRules": "rules",
    "SecurityGroups": "groups",
    "NetworkInterfaces": "interfaces",
    "PrefixLists": "prefix lists",
    "Entries": "entries",
}
COMMANDS: Mapping[Kind, str] = {
    "rules": "aws ec2 describe-security-group-rules",
    "groups": "aws ec2 describe-security-groups",
    "interfaces": "aws ec2 describe-network-interfaces",
    "prefix lists": "aws ec2 describe-managed-prefix-lists",
    "entries": "aws ec2 get-managed-prefix-list-entries",
}
_MEMBERS = frozenset(ARRAYS)
_PAGE_TOKEN = "NextToken"
_LIST_ID = "PrefixListId"
_IGNORED_MEMBERS = frozenset({_PAGE_TOKEN, "ResponseMetadata"})
NO_PREFIX_LISTS = "the dump holds no prefix lists (add the output of aws ec2 describe-managed-prefix-lists)"
CUSTOMER_LIST = "a customer-managed list: its entries are not in the dump"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in the input that could not be read: ``where`` is the file, with the entry and
    field when one entry is at fault."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def kind_of_entry(entry: Any) -> Kind | None:
    """What a bare array's entry is, by its fields (``--query SecurityGroupRules`` drops the member)."""
    if not isinstance(entry, Mapping):
        return None
    if "SecurityGroupRuleId" in entry or "IsEgress" in entry:
        return "rules"
    if "NetworkInterfaceId" in entry:
        return "interfaces"
    if "PrefixListId" in entry and "GroupId" not in entry:
        return "prefix lists"
    if "GroupId" in entry and ("GroupName" in entry or "IpPermissions" in entry):
        return "groups"
    return None


@dataclass
class _File:
    name: str
    path: str
    kinds: set[Kind] = field(default_factory=set)
    """Kinds met so far in the file (filled as it is read)."""
    read_before_rules: int = 0
    """Members read by the first pass before the file's first rule (groups in front of rules)."""


class RuleCheck:
    """An entry of a rules file as a rule, or why not (its field, or a place other than the dump's),
    the same way in this process and in a worker judging a piece of the file."""

    def __init__(self, account: str | None, region: str | None) -> None:
        self.account, self.region = account, region
        self._arn_prefix = "\0"  # "arn:aws:ec2:REGION:ACCOUNT:" once a rule of the dump's place is seen

    def __call__(self, value: Any) -> Rule | str:
        try:
            rule = checked_rule(value, "entry")
        except DescribeError as error:
            return str(error).removeprefix("entry").lstrip(".: ")
        arn = rule.rule_arn
        if arn is not None and not arn.startswith(self._arn_prefix):
            wrong = self._elsewhere(arn)
            if wrong is not None:
                return wrong
        return rule

    def _elsewhere(self, arn: str) -> str | None:
        """A rule of another account or region than the dump's: judged with the wrong facts (exemptions
        are scoped by account and region), so refused; one dump per account and region."""
        account, region = _account_and_region({"SecurityGroupRuleArn": arn})
        if account is None or self.account is None:
            return None
        if (account, region) != (self.account, self.region):
            return (
                f"a rule of {account or '?'} in {region or '?'}, while the dump is of "
                f"{self.account} in {self.region}: give one account and region per audit"
            )
        self._arn_prefix = ":".join(arn.split(":")[:5]) + ":"  # later rules: one startswith
        return None


class Dump:
    """The files given to ``--from``. Read :meth:`context` first (groups, interfaces, prefix lists,
    and the account and region of the first rule), then stream :meth:`rules`; :attr:`problems`
    collects what could not be read, in order."""

    def __init__(self, paths: Iterable[str], stdin: IO[bytes] | None = None) -> None:
        self.problems: list[Problem] = []
        self.groups: dict[str, GroupFacts] = {}
        self.interfaces: list[Interface] = []
        self.prefix_lists: dict[str, PrefixList | str] | None = None
        self.account: str | None = None
        self.region: str | None = None
        self.rules_read = 0
        self._files: list[_File] = []
        self._spooled: list[str] = []
        self._pages: dict[Kind, set[tuple[str, int]]] = {}
        self._entries: dict[tuple[str, int], _Entries] = {}
        self._described: dict[str, PrefixList] = {}
        self._tokens: set[tuple[str, int]] = set()
        self._collect(paths, stdin)

    # --- the files -----------------------------------------------------------------------------

    def _collect(self, paths: Iterable[str], stdin: IO[bytes] | None) -> None:
        seen: set[str] = set()
        for item in sources.inputs(paths, stdin):
            if isinstance(item, sources.Unreadable | sources.Nothing):
                self.problems.append(Problem(item.where, item.message))
                continue
            if item.remote:
                self.problems.append(Problem(item.name, "--from reads local files and - only"))
                continue
            if not item.owned or not os.path.isfile(item.name):
                # standard input or a pipe (<(zcat ...)) is read twice (context, then rules): on disk
                stream = item.open()
                try:
                    path = self._spool(stream)
                finally:
                    if item.owned:
                        stream.close()
            else:
                path = os.path.realpath(item.name)
                if path in seen:
                    self.problems.append(Problem(item.name, "given twice: read once"))
                    continue
                seen.add(path)
            self._files.append(_File(item.name, path))

    def _spool(self, stream: IO[bytes]) -> str:
        handle, path = tempfile.mkstemp(prefix="sgguard-stdin-")
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(stream, out)
        self._spooled.append(path)
        return path

    def close(self) -> None:
        for path in self._spooled:
            os.unlink(path)
        self._spooled.clear()

    def __enter__(self) -> Dump:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _members(self, file: _File) -> Iterator[tuple[Kind | None, jsonstream.Member]]:
        """Every member of a file with its kind (by member name, or by a bare array's first entry)."""
        try:
            with open(file.path, "rb") as raw:
                binary: IO[bytes] = io.BufferedReader(raw)
                if binary.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[attr-defined]
                    binary = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
                text = io.TextIOWrapper(binary, encoding="utf-8-sig")
                bare: Kind | None = None
                for member in jsonstream.members(text, _MEMBERS):
                    name = member.name
                    if name is not None:
                        yield ARRAYS.get(name), member
                    elif member.index is not None:
                        bare = bare if member.index else kind_of_entry(member.value)
                        yield bare, member
                    else:
                        yield None, member
        except (jsonstream.JsonStreamError, OSError, EOFError, UnicodeDecodeError, zlib.error) as error:
            self.problems.append(Problem(file.name, _unreadable(error)))
        except RecursionError:
            self.problems.append(Problem(file.name, "not JSON sgguard reads: values nested too deep"))

    @staticmethod
    def _where(file: _File, member: jsonstream.Member) -> str:
        """ "rules.json: SecurityGroupRules[3]" (worked out only when something is wrong there)."""
        index = "" if member.index is None else f"[{member.index}]"
        if member.name is None:
            return f"{file.name}: {index or 'value'}"
        return f"{file.name}: {member.name}{index}"

    # --- first pass: what the rules are judged with ----------------------------------------------

    def context(self) -> None:
        """Read every file but the rules: groups, interfaces and prefix lists, and from the rules
        files only their first entry (the account and region are in its ARN)."""
        for file in self._files:
            self._read_context(file)
        self._resolve_entries()

    def _read_context(self, file: _File) -> None:
        for kind, member in self._members(file):
            file.read_before_rules += 1
            where = self._where(file, member)
            if member.refused is not None:
                self.problems.append(Problem(where, f"refused: {member.refused}"))
                continue
            if self._paging(file, kind, member):
                continue
            if member.name == _LIST_ID and member.index is None:
                self._entries_of(file, member.document, where).list_id = member.value
                continue
            if member.index is None:
                self._other_member(kind, where, member)
                continue
            if kind is None:
                self.problems.append(Problem(where, "not a security group, rule, interface or prefix list"))
                continue
            if kind == "rules":
                file.read_before_rules -= 1
                file.kinds.add(kind)
                self._first_rule(member.value)
                return  # streamed later, by rules(), which counts its pages
            if kind == "entries":
                self._entries_of(file, member.document, where).items.append((where, member.value))
                continue
            self._entry(kind, where, member.value)

    def _entries_of(self, file: _File, document: int, where: str) -> _Entries:
        return self._entries.setdefault((file.path, document), _Entries(where.split(":")[0]))

    def _resolve_entries(self) -> None:
        """The prefix lists as the evaluation sees them. A saved ``get-managed-prefix-list-entries``
        answer does not name its list: it is read only with a ``PrefixListId`` member added
        (``jq '. + {PrefixListId: "pl-..."}'``). AWS-managed lists hold AWS's networks and are judged
        without entries; a customer-managed list without its entries is not judged (never passed as
        empty)."""
        entries_of: dict[str, tuple[str, ...]] = {}
        for entries in self._entries.values():
            if not isinstance(entries.list_id, str):
                self.problems.append(
                    Problem(
                        entries.where,
                        "prefix-list entries without a PrefixListId member: add it, e.g. "
                        "jq '. + {PrefixListId: \"pl-...\"}' (AWS's answer does not name its list)",
                    )
                )
                continue
            entries_of[entries.list_id] = entries_of.get(entries.list_id, ()) + self._cidrs(entries)
        if not self._described and not entries_of:
            return
        self.prefix_lists = _Known()
        for list_id, listed in self._described.items():
            if list_id in entries_of:
                self.prefix_lists[list_id] = dataclasses.replace(listed, entries=entries_of[list_id])
            else:
                self.prefix_lists[list_id] = listed if listed.aws_managed else CUSTOMER_LIST
        for list_id, cidrs in entries_of.items():
            self.prefix_lists.setdefault(list_id, PrefixList(list_id, "", "", None, cidrs))

    def _cidrs(self, entries: _Entries) -> tuple[str, ...]:
        cidrs: list[str] = []
        for where, value in entries.items:
            cidr = value.get("Cidr") if isinstance(value, Mapping) else None
            try:
                if not isinstance(cidr, str):
                    raise ValueError
                cidrs.append(canonical_cidr(cidr))
            except ValueError:
                self.problems.append(Problem(where, f"Cidr: {cidr!r} is not a CIDR block"))
        return tuple(cidrs)

    def _paging(self, file: _File, kind: Kind | None, member: jsonstream.Member) -> bool:
        """Count pages per kind (a document holding entries of it) and those ending with a NextToken;
        True for the token itself."""
        page = (file.path, member.document)
        if member.name == _PAGE_TOKEN:
            self._tokens.add(page)
            return True
        if kind is not None and member.index == 0:
            self._pages.setdefault(kind, set()).add(page)
        return False

    def missing_pages(self) -> list[Problem]:
        """After :meth:`rules`: kinds whose every page given ends with a NextToken (the last page,
        which has none, is missing: rules were left out of the dump)."""
        return [
            Problem(
                "--from",
                f"every page of {COMMANDS[kind]} given ends with a NextToken: the last page is missing "
                "(save the output without --max-items, or give every page)",
            )
            for kind, pages in self._pages.items()
            if pages and pages <= self._tokens
        ]

    def _other_member(self, kind: Kind | None, where: str, member: jsonstream.Member) -> None:
        if member.name in _IGNORED_MEMBERS:
            return
        if kind is not None or member.name is None:
            what = "an array" if kind is not None else "a JSON value that is not a saved describe output"
            self.problems.append(Problem(where, f"expected {what}"))
        # other members (e.g. a future field of the response) are not ours to judge

    def _entry(self, kind: Kind, where: str, value: Any) -> None:
        try:
            if not isinstance(value, Mapping):
                raise DescribeError(f"expected an object, got {type(value).__name__}")
            if kind == "groups":
                self._group(value)
            elif kind == "interfaces":
                self.interfaces.append(_checked(interface_from_describe, value, "NetworkInterfaceId"))
                zone = value.get("AvailabilityZone")
                found = _REGION_OF_ZONE.match(zone) if isinstance(zone, str) else None
                self._place(_text(value.get("OwnerId")), found.group(1) if found else None)
            else:
                self._prefix_list(value)
        except DescribeError as error:
            self.problems.append(Problem(where, str(error)))

    def _group(self, value: Mapping[str, Any]) -> None:
        group = _checked(group_from_describe, value, "GroupId")
        if not isinstance(value.get("GroupName"), str):
            raise DescribeError("GroupName: missing or not a string")
        self.groups[group.group_id] = group
        self._place(*_account_and_region(value, "SecurityGroupArn", "OwnerId"))

    def _prefix_list(self, value: Mapping[str, Any]) -> None:
        list_id = value.get("PrefixListId")
        if not isinstance(list_id, str):
            raise DescribeError("PrefixListId: missing or not a string")
        version = value.get("Version")
        self._described[list_id] = PrefixList(
            id=list_id,
            name=str(value.get("PrefixListName") or ""),
            owner=str(value.get("OwnerId") or ""),
            version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        )

    def _first_rule(self, value: Any) -> None:
        if isinstance(value, Mapping):
            self._place(*_account_and_region(value))

    def _place(self, account: str | None, region: str | None) -> None:
        """The dump's account and region, from the first entry that says (a rule's or a group's ARN,
        an owner id, an interface's zone): exemptions may be scoped by them, restore commands name
        the region."""
        self.account = self.account or account
        self.region = self.region or region

    # --- second pass: the rules, streamed --------------------------------------------------------

    def rules_files(self) -> list[tuple[str, str]]:
        """(name, path) of each file holding rules, in order (after :meth:`context`)."""
        return [(f.name, f.path) for f in self._files if "rules" in f.kinds]

    def rules(self, only: str | None = None) -> Iterator[Rule]:
        """Every rule of the rules files (or of the one at path ``only``), converted once and
        checked; a bad entry is a problem."""
        check = RuleCheck(self.account, self.region)
        for file in self._files:
            if "rules" not in file.kinds or (only is not None and file.path != only):
                continue
            for position, (kind, member) in enumerate(self._members(file)):
                if kind == "rules" and member.index:  # the common case first: a rule, not the first
                    got = check(member.value) if member.refused is None else f"refused: {member.refused}"
                    if isinstance(got, str):
                        self._bad(file, member, got)
                        continue
                    self.rules_read += 1
                    yield got
                    continue
                if position < file.read_before_rules:
                    continue  # read by the first pass
                if self._paging(file, kind, member) or member.index is None or kind is None:
                    continue
                if kind != "rules":
                    self._bad(file, member, f"give the output of {COMMANDS[kind]} in a file of its own")
                    continue
                got = check(member.value) if member.refused is None else f"refused: {member.refused}"
                if isinstance(got, str):
                    self._bad(file, member, got)
                    continue
                self.rules_read += 1
                yield got

    def judged_elsewhere(self, name: str, path: str, rules: int, problems: Iterable[tuple[int, str]]) -> None:
        """A rules file judged in pieces by workers (one page, ``{"SecurityGroupRules": [...]}``): its
        count, its page, and its bad entries by their index in the file."""
        self.rules_read += rules
        self._pages.setdefault("rules", set()).add((path, 0))
        self.problems.extend(Problem(f"{name}: SecurityGroupRules[{i}]", message) for i, message in problems)

    def _bad(self, file: _File, member: jsonstream.Member, message: str) -> None:
        self.problems.append(Problem(self._where(file, member), message))


class _Known(dict[str, PrefixList | str]):
    """The dump's prefix lists; a list the dump does not describe is not judged."""

    def get(self, key: str, default: Any = None) -> PrefixList | str:
        found = super().get(key)
        return found if found is not None else f"{key} is not in the dump's prefix lists"


@dataclass
class _Entries:
    """One saved get-managed-prefix-list-entries answer, with the PrefixListId added to it."""

    where: str
    list_id: object = None
    items: list[tuple[str, Any]] = field(default_factory=list)


def _checked(convert: Any, value: Mapping[str, Any], key: str) -> Any:
    if not isinstance(value.get(key), str):
        raise DescribeError(f"{key}: missing or not a string")
    try:
        return convert(value)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise DescribeError(f"not what AWS prints ({error})") from None


_REGION_OF_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-[0-9]+)")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _account_and_region(
    value: Mapping[str, Any], arn_key: str = "SecurityGroupRuleArn", owner_key: str = "GroupOwnerId"
) -> tuple[str | None, str | None]:
    """``arn:aws:ec2:eu-west-1:111122223333:security-group-rule/sgr-...`` -> (account, region)."""
    arn = value.get(arn_key)
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) > 5 and parts[3] and parts[4]:
        return parts[4], parts[3]
    return _text(value.get(owner_key)), None


def _unreadable(error: Exception) -> str:
    if isinstance(error, jsonstream.JsonStreamError):
        return f"not JSON: {error}"
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(error, gzip.BadGzipFile | EOFError | zlib.error):
        return f"broken gzip: {error or 'truncated'}"
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)
