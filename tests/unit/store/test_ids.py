"""Generated prediction ids: UUID4-shaped, unique, and formatted only when read."""

from __future__ import annotations

import uuid

import pytest

from mlflow_monitor.store.ids import GeneratedIds, new_ids, next_id
from mlflow_monitor.store.interface import as_list


def test_generated_ids_are_uuid4_hex_strings_and_the_first_is_the_batch_uuid():
    ids = GeneratedIds.new(1000)
    strings = ids.tolist()
    assert len(strings) == len(set(strings)) == 1000
    for text in strings[:50] + strings[-50:]:
        parsed = uuid.UUID(hex=text)
        assert parsed.hex == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_batches_do_not_share_ids_or_prefixes():
    batches = [GeneratedIds.new(100) for _ in range(200)]
    assert len({b.prefix for b in batches}) == 200
    everything = [pid for b in batches for pid in b.tolist()]
    assert len(set(everything)) == 200 * 100


@pytest.mark.parametrize("n", [1, 5, 16, 17, 3000], ids=lambda n: f"n={n}")
def test_formatting_at_once_equals_formatting_one_by_one(n):
    ids = GeneratedIds.new(n)
    assert ids.tolist() == [ids[i] for i in range(n)]
    assert list(ids) == ids.tolist() == as_list(ids)
    assert ids[-1] == ids[n - 1]


def test_numbers_wrap_around_at_2_to_the_32():
    ids = GeneratedIds("4" * 24, 2**32 - 2, 4)
    assert [pid[24:] for pid in ids.tolist()] == ["fffffffe", "ffffffff", "00000000", "00000001"]
    assert [ids.position(pid) for pid in ids.tolist()] == [0, 1, 2, 3]


def test_position_finds_own_ids_only():
    ids = GeneratedIds.new(50)
    assert all(ids.position(pid) == i for i, pid in enumerate(ids.tolist()))
    other = GeneratedIds.new(50)
    assert ids.position(other[0]) is None
    assert ids.position(ids.prefix + "zzzzzzzz") is None  # not hex
    assert ids.position(ids.prefix + "0" * 7) is None  # too short
    past_the_end = ids.prefix + f"{(ids.start + 50) % 2**32:08x}"
    assert ids.position(past_the_end) is None
    assert ids[3] in ids and other[3] not in ids and 3 not in ids


def test_slices_are_generated_ids_of_the_same_batch():
    ids = GeneratedIds.new(100)
    part = ids[10:20]
    assert isinstance(part, GeneratedIds)
    assert part.tolist() == ids.tolist()[10:20]
    assert ids[95:200].tolist() == ids.tolist()[95:]
    assert len(ids[50:10]) == 0
    with pytest.raises(ValueError, match="contiguous"):
        ids[::2]
    with pytest.raises(IndexError):
        ids[100]


def test_equality_with_lists():
    ids = GeneratedIds.new(20)
    assert ids == ids.tolist()
    assert ids != ids.tolist()[:-1]
    assert ids == GeneratedIds(ids.prefix, ids.start, 20)


def test_independent_ids_are_uuid4s():
    for n in (3, 500):
        ids = new_ids(n)
        assert len(set(ids)) == n
        assert all(uuid.UUID(hex=pid).version == 4 for pid in ids)


def test_pooled_ids_are_unique_uuid4s_across_refills():
    ids = [next_id() for _ in range(10_000)]  # more than two pools
    assert len(set(ids)) == 10_000
    assert all(uuid.UUID(hex=pid).version == 4 for pid in ids[::97])


def test_a_forked_child_does_not_reuse_its_parents_pooled_ids():
    import os

    next_id()  # the pool now holds ids the parent will hand out next
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, ",".join(next_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        from_child = set(pipe.read().split(","))
    from_parent = {next_id() for _ in range(5)}
    assert len(from_child) == 5 and not from_child & from_parent
