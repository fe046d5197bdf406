"""Compaction: fit a whole request (system prompt, tool definitions, history) into a small
model's window, keeping what matters and inventing nothing.

What gives way, in order, only as far as needed:
1. harness text (`<system-reminder>` blocks, catalogues, billing lines: signals/harness.py);
2. the details of tools the conversation doesn't need (description past its first
   sentence, schema descriptions and examples); the tools it used, the tools named in
   its latest turns and a forced tool_choice are kept whole;
3. the history, in three layers: ANCHOR, the first two turns verbatim; SITREP, a
   rule-based summary of the middle (`[TROOPER_SITREP]{json}[/TROOPER_SITREP]`); TAIL,
   the last turns verbatim, as many as fit. A tool call is never separated from its result;
4. unneeded tools, whole (when even the history's essentials don't fit beside them);
5. the system prompt, then the longest other texts, by whole lines or sentences.

Kept verbatim, always: the user's latest turn, the last tool result (with its call) and
a partial answer being continued. A cut keeps whole lines or sentences and leaves a
marker with a true count in their place; nothing is repeated. When the protected parts
alone don't fit, the result says so (`fits` is False) and the tier is not asked.
"""

from trooper.compaction.cuts import cut_text, is_marker
from trooper.compaction.fit import (
    TOOLS_DROPPED,
    TOOLS_TRIMMED,
    Compacted,
    Fit,
    answer_room,
    compact,
)
from trooper.compaction.harness import is_harness_only
from trooper.compaction.sitrep import SITREP_CLOSE, SITREP_LEAD, SITREP_OPEN, render_sitrep, user_notes

__all__ = [
    "SITREP_CLOSE", "SITREP_LEAD", "SITREP_OPEN", "TOOLS_DROPPED", "TOOLS_TRIMMED", "Compacted", "Fit", "answer_room",
    "compact", "cut_text", "is_harness_only", "is_marker", "render_sitrep", "user_notes",
]
