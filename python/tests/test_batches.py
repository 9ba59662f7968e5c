"""The client's batches are the Node loader's, byte for byte, and resume mid-epoch exactly."""

import pytest

import fkd
from conftest import IMAGES, STORE, digests, node_batches

CASES = {
    "uint8 nchw": dict(dtype="uint8", layout="nchw"),
    "float32 nhwc": dict(dtype="float32", layout="nhwc"),
    "mix on": dict(dtype="uint8", layout="nhwc", mix={"mode": "both", "alpha": 0.8, "seed": 3}),
}
NODE_NAMES = {"batch_size": "batchSize", "dtype": "dtype", "layout": "layout", "mix": "mix", "shuffle": "shuffle", "size": "size", "epoch": "epoch", "workers": "workers"}


def run(loader):
    return [digests(batch) for batch in loader]


@pytest.mark.parametrize("case", CASES)
def test_batches_equal_the_node_loaders(case):
    options = dict(batch_size=7, size=16, epoch=1, shuffle=5, workers=1, **CASES[case])
    expected = node_batches(**{NODE_NAMES[k]: v for k, v in options.items()})
    epoch = options.pop("epoch")
    with fkd.Loader(IMAGES, STORE, epoch=epoch, **options) as loader:
        got = run(loader)
        assert len(loader) == len(expected)
    assert len(got) == len(expected) > 3
    assert got == expected


def test_resume_at_batch_k_is_the_tail_of_the_epoch():
    options = dict(batch_size=5, size=12, epoch=1, shuffle=2, dtype="uint8", mix={"mode": "cutmix", "seed": 1}, workers=1)
    with fkd.Loader(IMAGES, STORE, **options) as loader:
        whole = run(loader)
    for k in (1, 4, len(whole) - 1, len(whole)):
        with fkd.Loader(IMAGES, STORE, start_batch=k, **options) as loader:
            assert run(loader) == whole[k:], f"start_batch {k}"


def test_state_dict_resumes_where_iteration_stopped():
    options = dict(batch_size=4, size=12, shuffle=1, workers=1)
    with fkd.Loader(IMAGES, STORE, **options) as loader:
        loader.set_epoch(1)
        whole = run(loader)
        loader.set_epoch(1)
        seen = []
        for batch in loader:
            seen.append(digests(batch))
            if len(seen) == 3:
                break
        state = loader.state_dict()
    assert state == {"epoch": 1, "batch": 3}
    with fkd.Loader(IMAGES, STORE, **options) as resumed:
        resumed.load_state_dict(state)
        assert seen + run(resumed) == whole


def test_a_batch_stays_valid_until_the_one_two_after_it_is_asked_for():
    with fkd.Loader(IMAGES, STORE, batch_size=3, size=12, slots=3, workers=1) as loader:
        expected = run(fkd.Loader(IMAGES, STORE, batch_size=3, size=12, workers=1, copy=True))
        previous = None
        for batch in loader:
            if previous is not None:
                assert digests(previous) == expected[previous.index]
            previous = batch
