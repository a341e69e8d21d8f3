"""Who a request acts for, once its credentials are verified."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Caller:
    email: str
    user_id: UUID | None  # None: the email is verified but not registered
    admin: bool
    source: str  # "vouch", "oidc" or "api-token"
    verifier: bool = False  # may accept examples into the shared classifier (reviewed learning)

    def may_act_for(self, user_ref: object) -> bool:
        """Whether this caller may read or change the data of the user `user_ref` (an id as a
        client sent it): its own, or anyone's for an admin."""
        return self.admin or (self.user_id is not None and str(user_ref).strip().lower() == str(self.user_id))

    @property
    def key(self) -> str:
        """What rate limits and audit lines count by."""
        return str(self.user_id) if self.user_id is not None else self.email

    @property
    def may_review(self) -> bool:
        return self.verifier or self.admin
