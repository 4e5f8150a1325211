"""loadgen's action lists against the ``ocpp`` package's enums (the official schemas)."""

from __future__ import annotations

import pytest
from ocpp.v16.enums import Action as Action16
from ocpp.v21.enums import Action as Action21
from ocpp.v201.enums import Action as Action201

from loadgen.ocpp.actions import ACTIONS_16, ACTIONS_21, ACTIONS_201
from loadgen.ocpp.v16 import V16
from loadgen.ocpp.v21 import V21
from loadgen.ocpp.v201 import V201


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(ACTIONS_16, Action16), (ACTIONS_201, Action201), (ACTIONS_21, Action21)],
    ids=["1.6", "2.0.1", "2.1"],
)
def test_action_lists_match_the_ocpp_package(ours: frozenset[str], theirs: type) -> None:
    """Each version's list holds exactly the actions the ocpp package knows for it."""
    assert ours == {str(action.value) for action in theirs}


def test_server_actions_are_actions_of_their_version() -> None:
    """What a dialect counts as a server call by name is an action of its version."""
    assert V16.server_actions <= ACTIONS_16
    assert V201.server_actions <= ACTIONS_201
    assert V21.server_actions <= ACTIONS_21
