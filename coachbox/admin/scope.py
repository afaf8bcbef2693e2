"""Which learners an admin may see: owners all, a teacher limited to classes only theirs (one seam for every query)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LearnerScope:
    """The learners an admin (or API token) may see, message and export."""

    everyone: bool = True
    classes: tuple[str, ...] = ()

    def sql(self, learner_id_column: str = "learners.id") -> tuple[str, list]:
        """A WHERE fragment (and its parameters) limiting `learner_id_column` to this scope; "1" for everyone."""
        if self.everyone:
            return "1", []
        if not self.classes:
            return "0", []
        marks = ", ".join("?" for _ in self.classes)
        # Filled in by the classes work (#17): learners belong to classes through learner_classes.
        return (
            f"{learner_id_column} IN (SELECT learner_id FROM learner_classes WHERE class_name IN ({marks}))",
            list(self.classes),
        )


def scope_for(admin: dict | None) -> LearnerScope:
    """The scope of a signed-in admin (request.ctx.admin) or API token row; everyone until classes land."""
    return LearnerScope()
