"""Write `search-parameters.json`, the trimmed R4 search-parameter definitions the hub ships.

The official Bundle is 2 MB of mostly xpath and contact details; the hub needs code, base,
type, FHIRPath expression, targets and components, plus short per-type documentation for the
CapabilityStatement. The names of choice elements (`value[x]` …) come from the fhir.resources
models, so the FHIRPath evaluator can find `valueQuantity` when an expression says `value`.
Run again only when the definitions change:

    python -m fhir_api.data.make_search_parameters PATH/TO/search-parameters.json  (the R4 Bundle-searchParams.json)

https://hl7.org/fhir/R4/searchparameter.html
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("search-parameters.json")
_KEEP = ("multipleOr", "multipleAnd", "modifier", "comparator")
_BULLET = re.compile(r"^\*\s*\[(\w+)\]\([^)]*\):\s*(.*)$")


def _descriptions(sp: dict[str, Any]) -> dict[str, str]:
    """Split a "Multiple Resources" description into one short text per base type."""
    text = str(sp.get("description", "")).replace("\r", "")
    if not text.startswith("Multiple Resources"):
        first = text.strip().split("\n", 1)[0].strip()
        return {base: first for base in sp["base"]}
    out: dict[str, str] = {}
    for line in text.split("\n"):
        m = _BULLET.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _trim(sp: dict[str, Any]) -> dict[str, Any]:
    """Keep only what searching, indexing and the CapabilityStatement use."""
    out: dict[str, Any] = {
        "code": sp["code"],
        "url": sp["url"],
        "type": sp["type"],
        "base": sp["base"],
        "expression": sp.get("expression"),
        "description": _descriptions(sp),
    }
    if sp.get("target"):
        out["target"] = sp["target"]
    if sp.get("component"):
        out["component"] = [
            {"definition": c["definition"], "expression": c["expression"]} for c in sp["component"]
        ]
    for key in _KEEP:
        if key in sp:
            out[key] = sp[key]
    single = _single_valued(sp)
    if single:
        out["singleValued"] = single
    return out


def _choice_elements() -> list[str]:
    """Collect the base names of every choice element (`value` for `value[x]`) in R4B."""
    import fhir.resources.R4B as models

    names: set[str] = set()
    for info in pkgutil.iter_modules(models.__path__):
        module = importlib.import_module(f"{models.__name__}.{info.name}")
        for obj in vars(module).values():
            fields = getattr(obj, "model_fields", None)
            if not isinstance(obj, type) or not isinstance(fields, dict):
                continue
            for field in fields.values():
                extra = field.json_schema_extra
                if isinstance(extra, dict) and extra.get("one_of_many"):
                    names.add(str(extra["one_of_many"]))
    return sorted(names)


def _model(name: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(name)
    except (KeyError, ValueError, AttributeError):
        return None


def _field_types(model: Any, name: str) -> list[tuple[bool, Any]]:
    """Return (is_list, element model or None) for `name`, or each variant of a choice `name[x]`."""
    out = []
    for key, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if (field.alias or key) != name and extra.get("one_of_many") != name:
            continue
        text = str(field.annotation)
        inner = re.search(r"abc\.(\w+)Type", text)
        out.append(("List[" in text, _model(inner.group(1)) if inner else None))
    return out


def _walk(node: tuple[Any, ...], root: Any) -> tuple[Any, bool]:
    """Follow a parsed path through the R4B models: (model reached, at most one value)."""
    kind = node[0]
    if kind == "this":
        return root, True
    if kind == "member":
        model, single = _walk(node[1], root)
        if node[2][0].isupper():
            return model, single
        variants = _field_types(model, node[2]) if model is not None else []
        if not variants:
            raise LookupError(node[2])
        nxt = variants[0][1] if len(variants) == 1 else None
        return nxt, single and not any(is_list for is_list, _ in variants)
    if kind == "fn" and node[1] in ("where", "as", "ofType"):
        model, single = _walk(node[2], root)
        return None if node[1] != "where" else model, single
    if kind in ("index",) or (kind == "fn" and node[1] == "first"):
        return _walk(node[1] if kind == "index" else node[2], root)[0], True
    raise LookupError(kind)


def _single_valued(sp: dict[str, Any]) -> list[str]:
    """Return the base types on which a date, number or quantity parameter has one value at most.

    On those, repeated parameters (a range: `date=ge2024&date=lt2025`) can be tested on the
    same index row, which is what makes a range search an index range scan.
    """
    from fhir_api.fhirpath import parse_path, split_union

    if sp["type"] not in ("date", "number", "quantity") or not sp.get("expression"):
        return []
    single = []
    for base in sp["base"]:
        parts = [p for p in split_union(sp["expression"])
                 if p.lstrip("(").split(".", 1)[0] in (base, "Resource", "DomainResource")]
        try:
            trees = [parse_path(p) for p in parts]
            # `x.as(dateTime) | x.as(Period)` is still one choice element: one value at most.
            stems = {repr(t[2]) if t[0] == "fn" and t[1] in ("as", "ofType") else repr(t) for t in trees}
            one = len(stems) == 1 and all(_walk(t, _model(base))[1] for t in trees)
        except (LookupError, ValueError):
            continue
        if one:
            single.append(base)
    return single


def build(source: Path) -> dict[str, Any]:
    """Return the trimmed document built from the official SearchParameter Bundle."""
    bundle = json.loads(source.read_text(encoding="utf-8"))
    params = [_trim(e["resource"]) for e in bundle["entry"]]
    types: set[str] = set()
    for sp in params:
        types.update(sp["base"])
        types.update(sp.get("target", ()))
    types -= {"Resource", "DomainResource"}
    return {
        "fhirVersion": "4.0.1",
        "source": "hl7.fhir.r4.examples 4.0.1 Bundle-searchParams.json (CC0-1.0)",
        "resourceTypes": sorted(types),
        "choiceElements": _choice_elements(),
        "params": params,
    }


def write(doc: dict[str, Any], out: Path = OUT) -> None:
    """Write one parameter per line, so a change to the definitions reads as a small diff."""
    head = {k: v for k, v in doc.items() if k != "params"}
    lines = [json.dumps(sp, ensure_ascii=False, separators=(",", ":")) for sp in doc["params"]]
    text = json.dumps(head, ensure_ascii=False)[:-1] + ',"params":[\n' + ",\n".join(lines) + "\n]}\n"
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m fhir_api.data.make_search_parameters PATH/TO/search-parameters.json")
    write(build(Path(sys.argv[1])))
