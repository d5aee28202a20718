"""HTTP routes for test plans: import (JSON or YAML), list, show, versions, export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response, status

from ..errors import InvalidInput
from ..web_deps import CurrentContext, call
from . import plans
from .schemas import PlanDocument, PlanOut

router = APIRouter(prefix="/api/v1", tags=["plans"])

JSON_TYPES = frozenset({"application/json"})
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
EXPORT_TYPE = "application/yaml"


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its `$defs` references written in place (a plan's models never recurse),
    so it stands alone inside the OpenAPI document."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


_YAML_EXAMPLE = """\
name: cyber-default
estimated_duration: 6h
items:
  - task: predeploy/cyber_suite
    task_args: {families: [crypto], levels: [1, 2, 3], instances: 2}
    epochs: 2
    limits: {messages: 80, time: 1800}
    sandbox: bwrap
"""
_PLAN_SCHEMA = _inline_refs(PlanDocument.model_json_schema())
_YAML_BODY = {"schema": {"type": "string"}, "example": _YAML_EXAMPLE}
_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The plan as JSON (a PlanDocument) or as YAML text (the same fields).",
        "content": {
            "application/json": {"schema": _PLAN_SCHEMA},
            **{media_type: _YAML_BODY for media_type in sorted(YAML_TYPES)},
        },
    }
}


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _parse(content: bytes, content_type: str) -> PlanDocument:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in JSON_TYPES or media_type.endswith("+json"):
        return plans.load_plan_json(content)
    if media_type in YAML_TYPES:
        try:
            source = content.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the plan is not UTF-8 text") from None
        return plans.load_plan_yaml(source)
    raise InvalidInput(
        f"send the plan as application/json or application/yaml, not {media_type or 'untyped'}",
        field="content-type",
    )


@router.post(
    "/plans",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_IMPORT_BODY,
    responses={
        200: {
            "model": PlanOut,
            "description": "The latest version already has this content: nothing changed.",
        }
    },
)
def import_plan(
    ctx: CurrentContext,
    response: Response,
    content: Annotated[bytes, Depends(_raw_body)],
    # Documented by the request body's media types.
    content_type: Annotated[str, Header(include_in_schema=False)] = "",
) -> PlanOut:
    """Import a test plan (agency staff): a new version of its name, unless the latest version
    has the same content (200, `created: false`)."""
    plan = plans.import_plan(ctx, _parse(content, content_type))
    if not plan.created:
        response.status_code = status.HTTP_200_OK
    return plan


@router.get("/plans")
async def list_plans(ctx: CurrentContext) -> list[PlanOut]:
    """The latest version of every test plan, by name (agency staff)."""
    return await call(plans.list_plans, ctx)


@router.get("/plans/{ref}")
async def get_plan(ctx: CurrentContext, ref: str) -> PlanOut:
    """One plan version: `ref` is NAME (its latest version), NAME@VERSION or the plan's id."""
    return await call(plans.show_plan, ctx, ref)


@router.get("/plans/{name}/versions")
async def plan_versions(ctx: CurrentContext, name: str) -> list[PlanOut]:
    """Every version of a plan, oldest first."""
    return await call(plans.versions, ctx, name)


@router.get(
    "/plans/{ref}/export",
    response_class=Response,
    # The YAML document holds a PlanDocument (as importing it again reads it).
    responses={200: {"content": {EXPORT_TYPE: {"schema": _PLAN_SCHEMA}}}},
)
async def export_plan(ctx: CurrentContext, ref: str) -> Response:
    """The plan as YAML; importing it again changes nothing."""
    plan = await call(plans.get_plan, ctx, ref)
    return Response(
        plans.plan_yaml(plan),
        media_type=EXPORT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{plan.name}-v{plan.version}.yaml"'},
    )
