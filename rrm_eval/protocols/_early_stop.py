"""Early-stop voting: when the votes drawn so far settle a presentation's ``votes=k`` majority, draw no more.

A presentation's full-k verdict is what :func:`rrm_eval.scoring.presentation_score` reads from its k votes: the
response with more votes wins; equal counts (including zero readable votes) give the 0.5 tie, or the failure policy's
score when no vote is readable. Explicit ``"tie"`` verdicts and unreadable votes count for neither response. So a
presentation is settled once one response has a *strict* lead that the remaining votes cannot erase or equal.

Two rules (``--early-stop RULE``):

* ``exact``: stop when the leader's lead over the other response, and over the explicit-tie verdicts, exceeds the
  number of votes not drawn yet: ``max(c, w) - min(c, w) > r`` and ``max(c, w) - t > r`` with ``c``/``w`` the votes
  for the chosen/rejected response, ``t`` the tie verdicts, ``r = k - drawn``. Then every continuation of the k
  votes has the same strict majority, so the verdict equals the full-k majority (and so does the position
  consistency statistic, which also counts tie verdicts as a label). An unreadable vote is a drawn vote for nobody:
  it uses up one of the k. A presentation that never settles draws all k votes, exactly like a full run.
* ``conf=P`` (``0.5 < P < 1``): a posterior rule. Let ``a >= b`` be the leader's and the other response's readable
  votes. With a Beta(1, 1) prior on ``theta`` = the chance that a readable vote picks the leader, the remaining ``r``
  votes (modelled as all readable, the case in which most can still swing) give the leader ``X ~
  BetaBinomial(r, a + 1, b + 1)`` more votes; stop when the posterior predictive probability that the leader is the
  strict full-k majority, ``P(a + X > b + r - X)``, is at least ``P``. It may change verdicts (the bench measures
  by how much); it never stops without a strict leader, and it stops whenever ``exact`` would (modulo tie verdicts).

Votes are drawn in waves. Each wave of a presentation is the smallest number of votes that could settle it (all of
them going to the current leader); a vote moves the settling margin by at most what a leader vote does, so no
presentation settles inside a wave and the waves draw exactly the votes the rule's sequential stopping time needs.
For ``k = 16`` the first wave is 9 votes (a side needs 9 of 16).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rrm_eval._errors import RRMError

#: One vote as the scorer reads it (``rrm_eval.scoring.record_outcome``): None = unreadable.
Outcome = Literal["chosen", "rejected", "tie"] | None

_HINT = "write --early-stop exact (or bare --early-stop), or --early-stop conf=P with 0.5 < P < 1, e.g. conf=0.95"


@dataclass(frozen=True)
class Tally:
    """Counts of the votes drawn so far for one presentation."""

    chosen: int = 0
    rejected: int = 0
    tie: int = 0
    unread: int = 0

    @classmethod
    def of(cls, outcomes: Sequence[Outcome]) -> Tally:
        return cls(
            sum(o == "chosen" for o in outcomes),
            sum(o == "rejected" for o in outcomes),
            sum(o == "tie" for o in outcomes),
            sum(o is None for o in outcomes),
        )

    @property
    def drawn(self) -> int:
        return self.chosen + self.rejected + self.tie + self.unread

    @property
    def leader(self) -> int:
        return max(self.chosen, self.rejected)

    @property
    def other(self) -> int:
        return min(self.chosen, self.rejected)

    def plus_leader(self, n: int) -> Tally:
        """This tally with ``n`` more votes for the current leader (the chosen response when level)."""
        if self.chosen >= self.rejected:
            return Tally(self.chosen + n, self.rejected, self.tie, self.unread)
        return Tally(self.chosen, self.rejected + n, self.tie, self.unread)


class StopRule(ABC):
    """A stopping rule over one presentation's votes."""

    @property
    @abstractmethod
    def spec(self) -> str:
        """The rule's canonical ``--early-stop`` value (what the run's identity records)."""

    @abstractmethod
    def settled(self, tally: Tally, k: int) -> bool:
        """Whether to stop with ``tally`` drawn of ``k`` (before all k are drawn)."""

    def wave(self, tally: Tally, k: int) -> int:
        """How many votes to draw next: 0 when done, else the fewest that could settle the presentation."""
        remaining = k - tally.drawn
        if remaining <= 0 or self.settled(tally, k):
            return 0
        # A presentation never settles mid-wave: the fewest leader votes that settle it are the wave.
        return next((n for n in range(1, remaining) if self.settled(tally.plus_leader(n), k)), remaining)


@dataclass(frozen=True)
class ExactRule(StopRule):
    @property
    def spec(self) -> str:
        return "exact"

    def settled(self, tally: Tally, k: int) -> bool:
        remaining = k - tally.drawn
        return tally.leader - tally.other > remaining and tally.leader - tally.tie > remaining


@dataclass(frozen=True)
class ConfidenceRule(StopRule):
    p: float = 0.95

    @property
    def spec(self) -> str:
        return f"conf={self.p!r}"

    def settled(self, tally: Tally, k: int) -> bool:
        a, b, remaining = tally.leader, tally.other, k - tally.drawn
        if a == b:
            return False  # no strict leader: by symmetry the leader wins with probability < 1/2 < P
        # Compare the losing mass with 1 - P (not the winning mass with P): no rounding of 1 - tiny up to 1.
        return leader_loses(a, b, remaining) <= 1.0 - self.p


def leader_loses(a: int, b: int, remaining: int) -> float:
    """P(the leader with ``a`` of the readable votes against ``b`` is not the strict majority after ``remaining``
    more votes), under the Beta(1, 1) prior: the Beta-binomial mass of ``X <= (b + remaining - a) / 2``."""
    top = math.floor((b + remaining - a) / 2)
    if top < 0:
        return 0.0
    alpha, beta = a + 1, b + 1
    log_norm = (
        # log of Gamma(alpha + beta + r) B(alpha, beta) / Gamma(alpha + beta): the pmf's x-independent denominator
        math.lgamma(alpha + beta + remaining) + math.lgamma(alpha) + math.lgamma(beta) - math.lgamma(alpha + beta)
    )
    total = 0.0
    for x in range(min(top, remaining) + 1):
        log_choose = math.lgamma(remaining + 1) - math.lgamma(x + 1) - math.lgamma(remaining - x + 1)
        total += math.exp(log_choose + math.lgamma(x + alpha) + math.lgamma(remaining - x + beta) - log_norm)
    return min(1.0, total)


def stop_rule(value: str | None) -> StopRule | None:
    """The rule an ``--early-stop`` value names (None: draw all votes); an :class:`RRMError` for a malformed one."""
    if value is None:
        return None
    text = value.strip().lower()
    if text == "exact":
        return ExactRule()
    kind, sep, arg = text.partition("=")
    if kind.strip() == "conf" and sep:
        try:
            p = float(arg)
        except ValueError:
            p = math.nan
        if 0.5 < p < 1.0:  # also refuses nan
            return ConfidenceRule(p)
        raise RRMError(
            f"--early-stop {value!r}: the confidence {arg.strip()!r} is not a probability in (0.5, 1)",
            hint=_HINT + " (conf=1 would be the exact rule: use exact)",
        )
    raise RRMError(f"--early-stop {value!r} is not a stopping rule", hint=_HINT)


@dataclass(frozen=True, order=True)
class Wave:
    """Votes ``first .. first + n - 1`` of one presentation."""

    first: int
    n: int


def next_wave(outcomes: Sequence[Outcome], k: int, rule: StopRule | None) -> Wave | None:
    """The wave to draw next for a presentation whose votes ``0 .. len(outcomes) - 1`` are saved (None: done).

    The waves are replayed from the saved votes, so a resumed run draws the same waves an uninterrupted one does;
    a wave cut short (a torn write, a retried backend error) is drawn again whole, with the same seeds, and only
    its missing votes are appended. Without a rule there is one wave of all ``k`` votes."""
    if rule is None:
        return None if len(outcomes) >= k else Wave(0, k)
    drawn = 0
    while True:
        n = rule.wave(Tally.of(outcomes[:drawn]), k)
        if n == 0:
            return None
        if drawn + n > len(outcomes):
            return Wave(drawn, n)
        drawn += n


def waves_drawn(outcomes: Sequence[Outcome], k: int, rule: StopRule | None) -> int:
    """How many waves the rule drew for a finished presentation (for the summary's accounting)."""
    count, drawn = 0, 0
    while drawn < len(outcomes):
        n = rule.wave(Tally.of(outcomes[:drawn]), k) if rule is not None else k - drawn
        if n == 0:
            break
        count, drawn = count + 1, drawn + n
    return count


__all__ = [
    "ConfidenceRule",
    "ExactRule",
    "Outcome",
    "StopRule",
    "Tally",
    "Wave",
    "leader_loses",
    "next_wave",
    "stop_rule",
    "waves_drawn",
]
