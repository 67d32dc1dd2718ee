import json

import numpy as np
import pytest

from cnn2gnn.runtime.classifier import Prediction
from cnn2gnn.runtime.stream.exit_codes import OutputError
from cnn2gnn.runtime.stream.outputs import AnnotatedVideoWriter, JsonLinesWriter, annotate, frame_record
from tests.runtime.stream._media import read_video

PRED = Prediction(labels=["cat", "dog"], scores=[0.75, 0.25], indices=[3, 5])


def test_json_lines_file_appears_only_when_closed(tmp_path):
    path = tmp_path / "frames.jsonl"
    writer = JsonLinesWriter(path)
    writer.write([frame_record(0, 1.5, "cam", PRED, 12.5), frame_record(2, 1.6, "cam", PRED, 13.0)])
    assert not path.exists()
    writer.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[1] == {"index": 2, "timestamp": 1.6, "source": "cam", "labels": ["cat", "dog"],
                          "scores": [0.75, 0.25], "classes": [3, 5], "latency_ms": 13.0}
    assert [p.name for p in tmp_path.iterdir()] == ["frames.jsonl"]


def test_json_lines_whose_last_write_fails_are_not_published(tmp_path, monkeypatch):
    path = tmp_path / "frames.jsonl"
    path.write_text("an earlier run's results\n")
    writer = JsonLinesWriter(path)
    writer.write([frame_record(0, 1.5, "cam", PRED, 12.5)])

    def disk_full(fd):  # the disk refusing the last flush to storage
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("cnn2gnn.runtime.stream.outputs.os.fsync", disk_full)
    with pytest.raises(OutputError, match=r"cannot write .*frames\.jsonl: No space left on device \(the disk or your "
                                          r"quota is full.*\); any earlier file there is unchanged: free some space"):
        writer.close()
    assert path.read_text() == "an earlier run's results\n" and [p.name for p in tmp_path.iterdir()] == ["frames.jsonl"]


def test_json_lines_go_to_stdout_as_they_come(capsys):
    writer = JsonLinesWriter(None)
    writer.write([frame_record(0, 1.0, "cam", PRED, 1.0)])
    assert json.loads(capsys.readouterr().out)["labels"] == ["cat", "dog"]
    writer.close()


@pytest.mark.parametrize("name", ["out.avi", "out.mkv", "out.mp4"])  # each container's whole video reads back
def test_annotated_video_keeps_every_frame_and_one_size(tmp_path, name):
    writer = AnnotatedVideoWriter(tmp_path / name, fps=10)
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(5)] + [np.zeros((30, 30), np.uint8)]
    for f in frames:
        writer.write(annotate(f, PRED, (4, 4, 20, 20), "#0 1.0 ms"))
    assert not (tmp_path / name).exists()
    writer.close()
    decoded = read_video(tmp_path / name)
    assert writer.saved and len(decoded) == 6 and all(d.shape == (48, 64, 3) for d in decoded)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_discarded_output_leaves_nothing(tmp_path):
    writer = AnnotatedVideoWriter(tmp_path / "out.mp4", fps=10)
    writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.close(commit=False)
    assert list(tmp_path.iterdir()) == []


def test_annotation_draws_on_a_copy():
    image = np.zeros((64, 64), np.uint8)
    drawn = annotate(image, PRED, None, "info")
    assert drawn.shape == (64, 64, 3) and drawn.any() and not image.any()


@pytest.mark.parametrize("name, fourcc, problem", [("out.xyz", None, r"\.xyz is no video"),
                                                    ("out.avi", "TOOLONG", r"--fourcc 'TOOLONG' is not four characters")])
def test_unusable_video_settings_are_user_errors_before_the_run(tmp_path, name, fourcc, problem):
    """Refused with the other settings (exit 1), before a model loads or a source opens: not an output failure."""
    from cnn2gnn.contracts.errors import Cnn2GnnError
    from cnn2gnn.runtime.stream.stream_config import StreamConfig

    for make in (lambda: StreamConfig(source="synthetic://32x32", save=tmp_path / name, fourcc=fourcc),
                 lambda: AnnotatedVideoWriter(tmp_path / name, fps=10, fourcc=fourcc)):
        with pytest.raises(Cnn2GnnError, match=rf"--save .*{problem}; give a file ending in \.mp4 \(mp4v\)") as caught:
            make()
        assert not isinstance(caught.value, OutputError)


def test_an_artifact_writers_message_is_not_prefixed_twice(tmp_path):
    from cnn2gnn.contracts.atomic_io import atomic_write_json
    from cnn2gnn.runtime.stream.outputs import written_message

    (tmp_path / "summary.json").mkdir()  # in the way of the summary
    with pytest.raises(OSError) as caught:
        atomic_write_json(tmp_path / "summary.json", {})
    message = written_message(caught.value, "cannot write the summary")
    assert message.startswith(f"cannot write {tmp_path / 'summary.json'}") and message.count("cannot write") == 1
    assert written_message(OSError(5, "I/O error"), "cannot write the summary") == "cannot write the summary: [Errno 5] I/O error"
