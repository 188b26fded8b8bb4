"""The OpenAPI document is true: every route documented, every documented route served,
documented parameters accepted, and real responses valid against the documented schemas."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from observe_samples import frame_id
from test_observe_http import StoreView, error_of, filled_view, serve

from monitor.observe.http import build_app, openapi_document
from monitor.observe.metrics import Metrics

DOC = json.loads(openapi_document())
METHODS = {"get", "post", "put", "patch", "delete"}


def served_routes() -> dict[str, set[str]]:
    app = build_app(StoreView(), Metrics().registry)
    routes: dict[str, set[str]] = {}
    for resource in app.router.resources():
        methods = {r.method.lower() for r in resource} - {"head"}
        routes.setdefault(resource.canonical, set()).update(methods)
    return routes


def documented_routes() -> dict[str, set[str]]:
    return {path: set(item) & METHODS for path, item in DOC["paths"].items()}


def schema_for(path: str, status: str = "200") -> dict[str, Any] | None:
    content = DOC["paths"][path]["get"]["responses"][status]
    if "$ref" in content:
        content = DOC["components"]["responses"][content["$ref"].rsplit("/", 1)[1]]
    schema = content.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    return {**schema, "components": DOC["components"]}


def validate(body: Any, path: str, status: str = "200") -> None:
    schema = schema_for(path, status)
    assert schema is not None, (path, status)
    jsonschema.Draft202012Validator(schema).validate(body)


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    assert DOC["openapi"].startswith("3.1")
    assert served_routes() == documented_routes()


def test_document_is_internally_consistent() -> None:
    text = json.dumps(DOC)
    for ref in set(re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', text)):
        assert ref[1] in DOC["components"][ref[0]], ref
    for name, schema in DOC["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema), name
    ids = [op["operationId"] for item in DOC["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for path, item in DOC["paths"].items():
        templated = set(re.findall(r"{(\w+)}", path))
        for op in item.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, path
            assert "200" in op["responses"], path
            if path.startswith("/api/") and op.get("security") != [{}]:
                assert "401" in op["responses"], f"{path} needs a documented 401"


def _valid_value(param: dict[str, Any]) -> str:
    schema = param["schema"]
    if "default" in schema:
        return str(schema["default"])
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    return "abc"


def test_documented_parameters_are_accepted_and_responses_match_their_schemas() -> None:
    view = filled_view()
    known = frame_id(4)

    async def body(base: str, get: Any) -> None:
        checked = 0
        for path, item in DOC["paths"].items():
            op = item["get"]
            url = path.replace("{frame_id}", known)
            query = [f"{p['name']}={_valid_value(p)}" for p in op.get("parameters", [])
                     if p["in"] == "query"]
            status, headers, raw = await get(url + ("?" + "&".join(query) if query else ""))
            assert status in (200, 503), (url, status, raw[:200])
            declared = op["responses"][str(status)]
            ctype = next(iter(declared.get("content", {"": {}})))
            if ctype:
                assert headers["Content-Type"].startswith(ctype), url
            if ctype == "application/json" and schema_for(path, str(status)):
                validate(json.loads(raw), path, str(status))
                checked += 1
        assert checked >= 9
        # documented error bodies are what the server sends
        status, _, raw = await get("/api/v1/frames/NOT-A-UUID")
        assert status == 400
        validate(json.loads(raw), "/api/v1/frames/{frame_id}", "400")
        status, _, raw = await get(f"/api/v1/frames/{frame_id(999)}")
        assert status == 404
        validate(json.loads(raw), "/api/v1/frames/{frame_id}", "404")

    serve(view, body=body)


@pytest.mark.parametrize("path", [p for p, item in DOC["paths"].items()
                                  if p.startswith("/api/") and "401" in item["get"]["responses"]])
def test_documented_401s_happen(path: str) -> None:
    async def body(base: str, get: Any) -> None:
        status, _, raw = await get(path.replace("{frame_id}", frame_id(1)))
        assert status == 401
        validate(json.loads(raw), path, "401")
        error_of(401, raw)

    serve(filled_view(), token="t0ken", body=body)
