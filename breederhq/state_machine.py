"""One table of allowed transitions per entity; an illegal one raises IllegalTransition (409)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from breederhq.errors import IllegalTransition


class StateMachine:
    def __init__(self, entity: str, transitions: Mapping[str, Iterable[str]]):
        self.entity = entity
        self.transitions: dict[str, frozenset[str]] = {
            state: frozenset(targets) for state, targets in transitions.items()
        }
        unknown = {t for targets in self.transitions.values() for t in targets} - set(self.transitions)
        if unknown:
            raise ValueError(f"{entity}: targets {sorted(unknown)} are not states of the machine")

    @property
    def states(self) -> frozenset[str]:
        return frozenset(self.transitions)

    def allowed_from(self, current: str) -> frozenset[str]:
        return self.transitions.get(current, frozenset())

    def can(self, current: str, target: str) -> bool:
        return target in self.allowed_from(current)

    def check(self, current: str, target: str) -> None:
        if not self.can(current, target):
            raise IllegalTransition(
                entity=self.entity, current=current, target=target, allowed=list(self.allowed_from(current))
            )

    def is_final(self, state: str) -> bool:
        return not self.allowed_from(state)
