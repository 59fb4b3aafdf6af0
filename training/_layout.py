"""Chat layouts of the judge conversations we train: user -> reason -> assistant (ReasonGenRM) and user -> assistant
(GenRM), for ChatML (Qwen2) and Llama-3 style tokenizers.

One :class:`ChatLayout` renders the exact text the packaged Jinja templates (``templates/*.jinja``) render, split
into typed segments, so that every step agrees on the same tokens:

* ``score-reasons`` / ``dpo-data`` build ``Model.score`` prompts and continuations from it;
* ``sft`` / ``dpo`` build ``input_ids`` and ``labels`` from it (the trainable segments, explicitly);
* a trained checkpoint carries the Jinja template, which the judge renders at inference.

A test pins layout == template, token by token. Layout of a ReasonGenRM conversation (ChatML)::

    <|im_start|>user\\n{judge prompt}<|im_end|>\\n
    <|im_start|>reason\\n{reason}<|im_end|>\\n          <- reason + end token: trainable
    <|im_start|>assistant\\n{[[A]] or [[B]]}<|im_end|>\\n <- verdict + end token: trainable

(seed 001/003's Llama-3.1 example shows the same turns with ``<|start_header_id|>role<|end_header_id|>\\n\\n`` headers
and ``<|eot_id|>`` ends.)
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from rrm_eval._errors import RRMError, UnknownNameError

SegmentKind = Literal["context", "reason", "reason_end", "assistant_header", "verdict", "verdict_end", "tail"]
TemplateKind = Literal["reason", "genrm"]

#: Which segments carry loss in each training objective (REFERENCE.md "ReasonGenRM / GenRM training" and Pitfalls):
#: SFT = reason + end token and verdict + end token; GenRM = verdict + end token; DPO = the reasoning only (reason +
#: its end token; the assistant header and the verdict are masked, as the seed's DPO).
TRAIN_SPANS: dict[str, frozenset[str]] = {
    "reasongenrm": frozenset({"reason", "reason_end", "verdict", "verdict_end"}),
    "genrm": frozenset({"verdict", "verdict_end"}),
    "dpo": frozenset({"reason", "reason_end"}),
}
CONTEXT_ROLES = ("system", "user")
MARKER_TEXT = "rrm-eval reason template"


class LayoutError(RRMError):
    """A conversation that cannot be laid out as trained tokens (e.g. tokens merge across a turn boundary)."""


@dataclass(frozen=True)
class ChatLayout:
    name: str
    bos: str
    header_start: str
    header_end: str
    end: str  # the end-of-turn token
    sep: str  # text between an end-of-turn token and the next header
    special_tokens: tuple[str, ...]

    # -- text ---------------------------------------------------------------------------------------------------
    def header(self, role: str) -> str:
        return f"{self.header_start}{role}{self.header_end}"

    def context(self, messages: list[dict[str, str]]) -> str:
        """BOS and the system/user turns, closed."""
        check_messages(messages)
        return self.bos + "".join(self.header(m["role"]) + m["content"] + self.end + self.sep for m in messages)

    def reason_prompt(self, messages: list[dict[str, str]]) -> str:
        """Everything before the reason: the prompt of P(R|U) and of on-policy reason sampling."""
        return self.context(messages) + self.header("reason")

    def verdict_prompt(self, messages: list[dict[str, str]], reason: str) -> str:
        """Everything before the verdict: the prompt of P(A|U,R)."""
        return self.reason_prompt(messages) + reason + self.end + self.sep + self.header("assistant")

    def genrm_prompt(self, messages: list[dict[str, str]]) -> str:
        return self.context(messages) + self.header("assistant")

    def segments(self, messages: list[dict[str, str]], verdict: str, reason: str | None) -> list[tuple[str, str]]:
        """The whole conversation as (text, kind) pieces; ``reason=None`` is the GenRM layout."""
        segs: list[tuple[str, str]] = []
        if reason is None:
            segs.append((self.genrm_prompt(messages), "context"))
        else:
            segs += [(self.reason_prompt(messages), "context"), (reason, "reason"), (self.end, "reason_end")]
            segs.append((self.sep + self.header("assistant"), "assistant_header"))
        segs += [(verdict, "verdict"), (self.end, "verdict_end"), (self.sep, "tail")]
        return [(t, k) for t, k in segs if t]

    def messages(self, messages: list[dict[str, str]], verdict: str, reason: str | None) -> list[dict[str, str]]:
        """The same conversation as chat messages (what the Jinja template renders)."""
        turns = [dict(m) for m in messages]
        if reason is not None:
            turns.append({"role": "reason", "content": reason})
        return [*turns, {"role": "assistant", "content": verdict}]

    def template(self, kind: TemplateKind) -> str:
        return template_text(self.name, kind)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "end_of_turn": self.end, "reason_header": self.header("reason")}


LAYOUTS: dict[str, ChatLayout] = {
    "chatml": ChatLayout(
        name="chatml",
        bos="",
        header_start="<|im_start|>",
        header_end="\n",
        end="<|im_end|>",
        sep="\n",
        special_tokens=("<|im_start|>", "<|im_end|>"),
    ),
    "llama3": ChatLayout(
        name="llama3",
        bos="<|begin_of_text|>",
        header_start="<|start_header_id|>",
        header_end="<|end_header_id|>\n\n",
        end="<|eot_id|>",
        sep="",
        special_tokens=("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
    ),
}


def get_layout(name: str) -> ChatLayout:
    if name not in LAYOUTS:
        raise UnknownNameError("chat layout", name, LAYOUTS)
    return LAYOUTS[name]


def template_text(layout: str, kind: TemplateKind) -> str:
    path = resources.files("rrm_eval.training") / "templates" / f"{kind}_{layout}.jinja"
    return path.read_text(encoding="utf-8")


def check_messages(messages: list[dict[str, str]]) -> None:
    if not messages or not all(isinstance(m, dict) and m.get("role") in CONTEXT_ROLES for m in messages):
        raise RRMError(
            f"judge messages must be system/user turns, got roles {[m.get('role') for m in messages or []]}",
            hint="rows come from `rrm-eval train prepare`",
        )
    for m in messages:
        if not isinstance(m.get("content"), str):
            raise RRMError("judge message content must be text")


def layout_for_tokenizer(tokenizer: Any, name: str = "auto") -> ChatLayout:
    """The layout named, or the one whose special tokens the tokenizer holds (Llama-3 first: it is the more
    specific set). Every special token of the layout must be one token of the vocabulary."""
    vocab = tokenizer.get_vocab()
    candidates = [get_layout(name)] if name != "auto" else [LAYOUTS["llama3"], LAYOUTS["chatml"]]
    for layout in candidates:
        missing = [t for t in layout.special_tokens if t not in vocab]
        if not missing:
            for tok in layout.special_tokens:
                if len(tokenizer(tok, add_special_tokens=False)["input_ids"]) != 1:
                    raise LayoutError(
                        f"{tok!r} is in the vocabulary but the tokenizer splits it: it is not registered as a special "
                        "token",
                        hint="add it with tokenizer.add_special_tokens, or use a tokenizer of that chat family",
                    )
            return layout
        if name != "auto":
            raise LayoutError(
                f"the tokenizer lacks the {layout.name} special tokens {missing}",
                hint="pick the --template that matches the model family (chatml for Qwen2/SmolLM, llama3 for Llama-3)",
            )
    raise LayoutError(
        "the tokenizer has neither ChatML (<|im_start|>, <|im_end|>) nor Llama-3 (<|start_header_id|>, "
        "<|end_header_id|>, <|eot_id|>) special tokens, so no reason chat template fits it",
        hint="train from a Qwen2/SmolLM- or Llama-3-family checkpoint (their tokenizers hold these tokens)",
    )


def layout_for_rendered(text: str) -> ChatLayout | None:
    """Recognise the layout of a prompt rendered by a model's own chat template."""
    if LAYOUTS["llama3"].header_start in text:
        return LAYOUTS["llama3"]
    if LAYOUTS["chatml"].header_start in text:
        return LAYOUTS["chatml"]
    return None


@dataclass
class Encoded:
    input_ids: list[int]
    kinds: list[str]  # segment kind of every token

    def labels(self, train: frozenset[str]) -> list[int]:
        """``input_ids`` where the token's segment is trainable, else -100 (built explicitly: TRL 1.x keeps a
        provided ``labels`` column as is)."""
        return [t if k in train else -100 for t, k in zip(self.input_ids, self.kinds, strict=True)]

    def mask(self, train: frozenset[str]) -> list[int]:
        return [1 if k in train else 0 for k in self.kinds]


def encode_segments(tokenizer: Any, segments: list[tuple[str, str]], layout: ChatLayout) -> Encoded:
    """Tokenize segment by segment and check the result equals tokenizing the whole text at once (what the Jinja
    template + tokenizer produce at inference); a mismatch means tokens merge across a turn boundary, which would
    blur the loss mask, so it is an error rather than a silent shift."""
    texts = [t for t, _ in segments]
    pieces = tokenizer(texts, add_special_tokens=False)["input_ids"]
    ids: list[int] = []
    kinds: list[str] = []
    for piece, (_, kind) in zip(pieces, segments, strict=True):
        if kind in ("reason_end", "verdict_end") and len(piece) != 1:
            raise LayoutError(
                f"the end-of-turn token {layout.end!r} is {len(piece)} tokens in this tokenizer, not one",
                hint="use a tokenizer of the layout's family (it registers the token as special)",
            )
        ids.extend(piece)
        kinds.extend([kind] * len(piece))
    whole = tokenizer("".join(texts), add_special_tokens=False)["input_ids"]
    if whole != ids:
        at = next((i for i, (a, b) in enumerate(zip(whole, ids, strict=False)) if a != b), min(len(whole), len(ids)))
        raise LayoutError(
            f"tokens merge across a turn boundary near token {at} ({kinds[min(at, len(kinds) - 1)]} segment)",
            hint="strip leading/trailing whitespace from reasons and verdicts",
        )
    return Encoded(ids, kinds)
