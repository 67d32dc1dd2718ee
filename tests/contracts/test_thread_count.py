import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.thread_count import threads_from_env, training_threads


def test_omp_num_threads_is_honoured() -> None:
    assert threads_from_env({"OMP_NUM_THREADS": "3"}) == 3
    assert threads_from_env({"OMP_NUM_THREADS": "2,1"}) == 2  # nested levels: the outer one
    assert training_threads({"OMP_NUM_THREADS": "7"}, cores=2) == 7


def test_without_it_training_takes_at_most_four_cores() -> None:
    assert threads_from_env({}) is None
    assert training_threads({}, cores=16) == 4
    assert training_threads({}, cores=2) == 2
    assert training_threads({"OMP_NUM_THREADS": ""}, cores=1) == 1


def test_the_process_environment_is_read(monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert training_threads() == 5


@pytest.mark.parametrize("value", ["0", "four", "-2"])
def test_a_bad_value_is_refused_with_the_fix(value: str) -> None:
    with pytest.raises(Cnn2GnnError, match="OMP_NUM_THREADS.*unset it"):
        threads_from_env({"OMP_NUM_THREADS": value})
