"""`python -m devtools.check_package build/<stage>`: fail unless the zip can run on the template's Lambda.

`chalice package` quietly builds a zip without pydantic_core when it cannot find a wheel for the
target platform (it then falls back to whatever it could build locally, or to nothing); the function
would deploy and fail at its first import. This check reads the runtime and architecture from the
template and looks for the compiled module that exact platform imports.
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path

_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}


class PackageProblem(RuntimeError):
    pass


def expected_module(template: dict[str, object]) -> str:
    """The file name of pydantic_core's compiled module for the runtime of every function."""
    resources = template.get("Resources", {})
    assert isinstance(resources, dict)
    platforms = set()
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        match = re.fullmatch(r"python3\.(\d+)", str(props.get("Runtime", "")))
        if not match:
            raise PackageProblem(f"{name}: runtime {props.get('Runtime')!r} is not a CPython 3 runtime")
        [arch] = props.get("Architectures", ["x86_64"])
        platforms.add((match.group(1), _ARCH[arch]))
    if len(platforms) != 1:
        raise PackageProblem(f"expected every function on one platform, found {sorted(platforms)}")
    [(minor, arch)] = platforms
    return f"pydantic_core/_pydantic_core.cpython-3{minor}-{arch}-linux-gnu.so"


def check(folder: Path) -> str:
    template = json.loads((folder / "sam.json").read_text())
    wanted = expected_module(template)
    with zipfile.ZipFile(folder / "deployment.zip") as zipped:
        names = set(zipped.namelist())
    if wanted not in names:
        found = sorted(
            n for n in names if n.startswith("pydantic_core/_pydantic_core.") and n.endswith((".so", ".pyd"))
        )
        seen = ", ".join(found) or "no pydantic_core at all"
        raise PackageProblem(
            f"{folder / 'deployment.zip'} lacks {wanted} (found: {seen}): chalice could not get a "
            "pydantic_core wheel for the Lambda platform; pin a pydantic version that has one "
            "(requirements.txt) and package again"
        )
    if "app.py" not in names or "chalicelib/handler.py" not in names:
        raise PackageProblem(f"{folder / 'deployment.zip'} lacks app.py or chalicelib/")
    return wanted


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m devtools.check_package build/<stage>", file=sys.stderr)
        return 2
    try:
        found = check(Path(argv[0]))
    except (PackageProblem, OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        print(f"check_package: {error}", file=sys.stderr)
        return 1
    print(f"check_package: {argv[0]}/deployment.zip has {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
