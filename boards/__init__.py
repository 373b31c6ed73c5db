"""Board top-levels on amaranth-boards platforms (docs/boards.md)."""

__all__ = ["BOARDS", "get_board"]


def _boards():
    from .icebreaker import ICEBREAKER
    from .ulx3s import ULX3S_85F
    return {b.name: b for b in (ICEBREAKER, ULX3S_85F)}


#: The ``--board`` names.
BOARDS = ("icebreaker", "ulx3s-85f")


def get_board(name):
    """The :class:`~.top.Board` called ``name`` (one of :data:`BOARDS`)."""
    boards = _boards()
    if name not in boards:
        raise ValueError(f"board {name!r} is not supported: expected one of "
                         f"{', '.join(repr(b) for b in BOARDS)}")
    return boards[name]
