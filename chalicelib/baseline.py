"""The baseline: the controls a rule is judged against, validated up front.

A control is data, never code: which directions, protocols, ports and sources it forbids, optionally
only in groups of a given name, and what to do about it. Every built-in control is written in this
language in a bundled TOML preset (aws-foundational, cis, strict), so that a change to what sgguard
enforces is a reviewed diff of a text file. A file may start from a preset (``extends``), switch
inherited controls off (``disable``), override them field by field, add its own, and carry the
deployment's exemptions.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from chalicelib.exemptions import Exemption, Scope
from chalicelib.messages import error_words
from chalicelib.rules import MAX_PORT, canonical_cidr, normalise_protocol

Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"]
SEVERITY_ORDER: Mapping[str, int] = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
Action = Literal["revoke", "notify"]
SweepAction = Literal["enforce", "report"]
DEFAULT_PRESET = "aws-foundational"

PortRange = tuple[int, int]


def _port_range(value: Any) -> Any:
    """Accept 22, "22" or "8000-8100"; say what is wrong in words an editor of the file understands."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a port")
    if isinstance(value, int):
        low = high = value
    elif isinstance(value, str):
        parts = value.split("-")
        if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"{value!r} is not a port or a range such as 8000-8100")
        low, high = int(parts[0]), int(parts[-1])
    else:
        return value
    for port in (low, high):
        if not 0 <= port <= MAX_PORT:
            raise ValueError(f"{port} is not a port (0-{MAX_PORT})")
    if low > high:
        raise ValueError(f"{value!r}: the range starts after it ends")
    return (low, high)


Ports = list[Annotated[PortRange, BeforeValidator(_port_range)]]

SOURCE_KEYWORDS = frozenset({"world", "internet", "any"})


def _protocol(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() == "all":
        return "all"
    if isinstance(value, str | int):
        return normalise_protocol(value)
    raise ValueError(f"{value!r} is not a protocol")


def _source(value: Any) -> str:
    if isinstance(value, str) and value in SOURCE_KEYWORDS:
        return value
    if isinstance(value, str):
        try:
            return canonical_cidr(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a source: use world, internet, any or a CIDR block")


class Control(BaseModel):
    """One thing a rule must not do.

    ``sources``: ``world`` is exactly 0.0.0.0/0 or ::/0; ``internet`` is a CIDR that is not the world
    but holds global addresses and is /8 (IPv4) or /16 (IPv6) or wider; ``any`` is every source; a CIDR
    matches a rule whose source opens every address of it. ``ports`` lists forbidden ports;
    ``allowed_ports`` instead lists, per protocol, the only ports allowed (Security Hub EC2.18's form:
    a protocol it does not name allows none). With neither, every port of the protocols is forbidden.
    Protocol ``all`` matches every rule; an all-traffic rule (-1) matches every protocol.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")
    title: str = Field(min_length=1)
    severity: Severity
    directions: list[Literal["ingress", "egress"]] = Field(default=["ingress"], min_length=1)
    protocols: list[Annotated[str, BeforeValidator(_protocol)]] = Field(min_length=1)
    ports: Ports | None = None
    allowed_ports: dict[Annotated[str, BeforeValidator(_protocol)], Ports] | None = None
    sources: list[Annotated[str, BeforeValidator(_source)]] = Field(min_length=1)
    group_name: str | None = None
    mirrors: str | None = None
    action: Action = "revoke"
    sweep: SweepAction = Field(
        default="enforce",
        description=(
            "What the sweep does with a rule breaking this control: enforce (revoke it when SWEEP_MODE "
            "is enforce and the control's action is revoke) or report (never revoked by a sweep, only "
            "reported; events still act as action says)."
        ),
    )
    rationale: str | None = None

    @model_validator(mode="after")
    def _one_port_form(self) -> Control:
        if self.ports is not None and self.allowed_ports is not None:
            raise ValueError(
                "give either ports (forbidden) or allowed_ports (the only ones allowed), not both"
            )
        if self.allowed_ports is not None:
            stray = sorted(set(self.allowed_ports) - set(self.protocols))
            if stray:
                raise ValueError(
                    f"allowed_ports names protocols the control does not cover: {', '.join(stray)}"
                )
        return self

    @cached_property
    def covers_all_protocols(self) -> bool:
        return "all" in self.protocols

    @cached_property
    def protocol_set(self) -> frozenset[str]:
        return frozenset(self.protocols)

    @cached_property
    def cidr_sources(self) -> tuple[str, ...]:
        return tuple(s for s in self.sources if s not in SOURCE_KEYWORDS)


class Baseline(BaseModel):
    """The effective baseline: an ordered set of controls with unique ids, after inheritance, and the
    exemptions that lift some of them in a given scope."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str | None = None
    extends: str | None = None
    controls: list[Control]
    exemptions: list[Exemption] = []

    @field_validator("controls")
    @classmethod
    def _unique_ids(cls, controls: list[Control]) -> list[Control]:
        seen: set[str] = set()
        for control in controls:
            if control.id in seen:
                raise ValueError(f"control id {control.id} appears twice")
            seen.add(control.id)
        return controls

    @cached_property
    def verdict_cache(self) -> dict[tuple[object, ...], tuple[Any, ...]]:
        """Per-baseline memory of content verdicts (see evaluate._content_verdicts); a baseline never
        changes once loaded, so its verdicts never go stale."""
        return {}

    @cached_property
    def needs_group_names(self) -> bool:
        return any(c.group_name is not None for c in self.controls)

    @cached_property
    def needs_group_vpcs(self) -> bool:
        return any(e.scope.vpcs is not None for e in self.exemptions)


class BaselineFile(BaseModel):
    """A baseline file as written, before inheritance.

    ``extends`` names a preset or another file (relative to this one); ``disable`` switches inherited
    controls off; a ``[[controls]]`` entry whose id is inherited overrides only the fields it gives;
    any other entry is a new control and must be complete.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str | None = None
    extends: str | None = None
    disable: list[str] = []
    controls: list[dict[str, Any]] = []
    exemptions: list[Exemption] = []


def file_schema() -> dict[str, Any]:
    """JSON Schema of a baseline file, for editors. A control entry needs only its id (an override
    of an inherited control); a new control needs the fields :class:`Control` requires."""
    schema = BaselineFile.model_json_schema()
    control = Control.model_json_schema()
    control["required"] = ["id"]
    control["description"] = (
        "A new control (title, severity, protocols and sources required) or, when its id is "
        "inherited through extends, the fields that override the inherited control."
    )
    schema["properties"]["controls"]["items"] = control
    return schema


class BaselineError(ValueError):
    """A baseline that cannot be used; ``errors`` name the file, the control and the field."""

    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(errors))
        self.source = source
        self.errors = errors


def _location(loc: Sequence[int | str], data: Mapping[str, Any], prefix: str = "") -> str:
    """A pydantic error location as the file's author reads it: ``controls[3](EC2.19).ports[1]``."""
    text = prefix
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
            if index == 1 and loc[0] in ("controls", "exemptions"):
                items = data.get(str(loc[0]))
                if isinstance(items, list) and part < len(items) and isinstance(items[part], dict):
                    text += f"({items[part].get('id', '?')})"
        else:
            text += f".{part}" if text else str(part)
    return text or "(file)"


def _known_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys allowed where ``loc`` points (to suggest one for a misspelt key)."""
    nested: dict[str, type[BaseModel]] = {"exemptions": Exemption, "scope": Scope}
    for part in loc[:-1]:
        if isinstance(part, str):
            model = nested.get(part, model)
    return list(model.model_fields)


def _describe_errors(
    error: ValidationError, data: Mapping[str, Any], prefix: str = "", model: type[BaseModel] | None = None
) -> list[str]:
    root = model or BaselineFile
    return [
        f"{_location(item['loc'], data, prefix)}: "
        f"{error_words(item, _known_keys(root, item['loc']), toml=True)}"
        for item in error.errors(include_url=False)
    ]


def _salvage(data: Mapping[str, Any], error: ValidationError) -> BaselineFile | None:
    """The file without its faulty top-level keys, so that the rest (each control above all, which
    is validated only after the file's own keys) is checked in the same run: every error at once."""
    faulty = {item["loc"][0] for item in error.errors() if item["loc"]}
    kept = {k: v for k, v in data.items() if k not in faulty and k in BaselineFile.model_fields}
    kept.setdefault("name", "?")
    try:
        return BaselineFile.model_validate(kept)
    except ValidationError:
        return None


def _patched(inherited: Control, patch: Mapping[str, Any]) -> dict[str, Any]:
    """The inherited control with the given fields replaced. The two port forms exclude each other,
    so giving one drops the inherited other."""
    merged = inherited.model_dump()
    if "ports" in patch:
        merged.pop("allowed_ports")
    if "allowed_ports" in patch:
        merged.pop("ports")
    merged.update(patch)
    return merged


def _inherited(error: BaselineError, message: str) -> str:
    """A fault of an extended file, said once: ``extends: b.toml: controls[0](X).ports[0]: ...``."""
    if message.startswith("extends"):  # already says which file (or the cycle), however deep
        return message if message.startswith("extends: ") else f"extends: {message}"
    return f"extends: {error.source}: {message}"


def _resolve(data: Mapping[str, Any], source: str, folder: Path | None, chain: tuple[str, ...]) -> Baseline:
    """Validate one file and apply it on top of what it extends."""
    errors: list[str] = []
    try:
        head = BaselineFile.model_validate(data)
    except ValidationError as error:
        errors = _describe_errors(error, data)
        salvaged = _salvage(data, error)
        if salvaged is None:
            raise BaselineError(source, errors) from None
        head = salvaged
    parent: Baseline | None = None
    if head.extends is not None:
        try:
            parent = _load(head.extends, folder, chain)
        except BaselineError as error:
            raise BaselineError(source, [*errors, *(_inherited(error, m) for m in error.errors)]) from None
    controls: dict[str, Control] = {c.id: c for c in parent.controls} if parent else {}
    inherited = set(controls)
    for index, disabled in enumerate(head.disable):
        if disabled not in inherited:
            known = ", ".join(sorted(inherited)) or "none: the file extends nothing"
            errors.append(f"disable[{index}]: {disabled} is not an inherited control ({known})")
        controls.pop(disabled, None)
    defined: set[str] = set()
    for index, entry in enumerate(head.controls):
        raw_id = entry.get("id")
        control_id = raw_id if isinstance(raw_id, str) else "?"
        label = f"controls[{index}]({control_id})"
        if control_id in defined:
            errors.append(f"{label}.id: {control_id} appears twice in this file")
            continue
        if control_id in head.disable:
            errors.append(f"{label}.id: {control_id} is both disabled and defined")
            continue
        base = controls.get(control_id)
        try:
            control = Control.model_validate(_patched(base, entry) if base else entry)
        except ValidationError as error:
            errors.extend(_describe_errors(error, {}, label, Control))
            continue
        defined.add(control.id)
        controls[control.id] = control
    exemptions = list(parent.exemptions) if parent else []
    taken = {e.id for e in exemptions}
    for index, exemption in enumerate(head.exemptions):
        label = f"exemptions[{index}]({exemption.id})"
        if exemption.id in taken:
            errors.append(f"{label}.id: {exemption.id} appears twice")
        taken.add(exemption.id)
        for position, control_id in enumerate(exemption.controls):
            if control_id not in controls:
                errors.append(f"{label}.controls[{position}]: {control_id} is not a control of this baseline")
        exemptions.append(exemption)
    if errors:
        raise BaselineError(source, errors)
    return Baseline(
        name=head.name,
        description=head.description,
        extends=head.extends,
        controls=list(controls.values()),
        exemptions=exemptions,
    )


def parse_baseline(
    text: str, source: str, folder: Path | None = None, chain: tuple[str, ...] = ()
) -> Baseline:
    """Parse, validate and resolve a baseline written in TOML; raise :class:`BaselineError` naming
    each fault. ``folder`` anchors a relative ``extends``; ``chain`` is what extends this one."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BaselineError(source, [f"not valid TOML: {error}"]) from None
    return _resolve(data, source, folder, chain)


def preset_names() -> list[str]:
    folder = resources.files("chalicelib") / "baselines"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def _load(name_or_path: str, folder: Path | None, chain: tuple[str, ...]) -> Baseline:
    presets = preset_names()
    if name_or_path in presets:
        key, source = f"preset {name_or_path}", f"preset {name_or_path}"
    else:
        path = Path(name_or_path)
        if folder is not None and not path.is_absolute():
            path = folder / path
        key = source = str(path)
    if key in chain:
        raise BaselineError(source, [f"extends itself: {' -> '.join((*chain, key))}"])
    if name_or_path in presets:
        resource = resources.files("chalicelib") / "baselines" / f"{name_or_path}.toml"
        return parse_baseline(resource.read_text(encoding="utf-8"), source, None, (*chain, key))
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise BaselineError(
            source, [f"neither a preset ({', '.join(presets)}) nor an existing file"]
        ) from None
    except OSError as error:
        raise BaselineError(source, [f"cannot be read: {(error.strerror or str(error)).lower()}"]) from None
    except UnicodeDecodeError as error:
        raise BaselineError(source, [not_utf8(error)]) from None
    return parse_baseline(text, source, path.parent, (*chain, key))


def not_utf8(error: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8, for a person with an editor (TOML files are UTF-8)."""
    line = error.object[: error.start].count(b"\n") + 1
    return f"not UTF-8 text: byte 0x{error.object[error.start]:02x} on line {line} (TOML files are UTF-8)"


@lru_cache(maxsize=16)
def load_baseline(name_or_path: str = DEFAULT_PRESET) -> Baseline:
    """A bundled preset by name, or a TOML file by path, with everything it extends applied; cached,
    since a baseline never changes while the function runs (a new baseline is a new deployment)."""
    return _load(name_or_path, None, ())
