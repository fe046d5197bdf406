"""Tool definitions at their size, and without their details: a description's first
sentence and a schema of names, types, enums and what is required."""

from __future__ import annotations

import re
from typing import Any

from trooper.compaction.cuts import segments
from trooper.conversation import Message, TextBlock, Tool, ToolResultBlock
from trooper.signals.tokens import PER_TOOL, estimate_text


def tool_tokens(tool: Tool) -> int:
    return PER_TOOL + estimate_text(tool.name) + estimate_text(tool.description) + estimate_text(str(tool.input_schema))


def trim_tool(tool: Tool) -> Tool:
    """The tool without its details: the description's first sentence, and a schema of
    parameter names, types, enums and what is required."""
    return Tool(tool.name, _first_sentence(tool.description), _bare_schema(tool.input_schema))


def _first_sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    first = segments(text.split("\n", 1)[0])[0][0]
    return first.strip()


_SCHEMA_KEEP = ("type", "enum", "required", "const")


def _bare_schema(schema: object) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    bare = {k: schema[k] for k in _SCHEMA_KEEP if k in schema}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        bare["properties"] = {name: _bare_schema(value) for name, value in properties.items()}
    items = schema.get("items")
    if isinstance(items, dict):
        bare["items"] = _bare_schema(items)
    for combinator in ("anyOf", "oneOf"):
        if isinstance(schema.get(combinator), list):
            bare[combinator] = [_bare_schema(v) for v in schema[combinator]]
    return bare


def names_tool(text: str, name: str) -> bool:
    if name not in text:
        return False
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def plain_text(message: Message) -> str:
    parts = []
    for block in message.content:
        if type(block) is TextBlock:
            parts.append(block.text)
        elif type(block) is ToolResultBlock:
            parts.extend(b.text for b in block.content if type(b) is TextBlock)
    return " ".join(parts)


