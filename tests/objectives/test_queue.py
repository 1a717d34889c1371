"""KeyQueue: the first-in-first-out queue of keys behind the momentum-contrast objectives."""
from __future__ import annotations

import torch

from interlingua.objectives.queue import KeyQueue


def test_queue_keeps_the_newest_keys():
    queue = KeyQueue(size=3, dim=1)
    assert queue.queued().shape == (0, 1)  # starts empty
    queue.push(torch.tensor([[1.0], [2.0]]))
    assert queue.queued().flatten().tolist() == [1.0, 2.0]
    queue.push(torch.tensor([[3.0], [4.0]]))
    assert queue.queued().flatten().tolist() == [3.0, 4.0, 1.0] and int(queue.filled) == 3


def test_the_queue_is_state_not_parameters():
    queue = KeyQueue(size=4, dim=2)
    assert list(queue.parameters()) == [] and set(queue.state_dict()) == {"keys", "filled"}
