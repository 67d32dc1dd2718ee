import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.stream.crop import Crop, parse_roi


def test_roi_and_centre_crop_boxes():
    image = np.arange(60 * 100).reshape(60, 100)
    assert np.array_equal(Crop(roi=(10, 5, 20, 30)).apply(image), image[5:35, 10:30])
    assert Crop(center=1.0).box(60, 100) == (20, 0, 60, 60)
    assert Crop(center=0.5).box(60, 100) == (35, 15, 30, 30)
    assert Crop().apply(image) is image and not Crop().active


def test_bad_crops_are_rejected_with_the_frame_size():
    with pytest.raises(Cnn2GnnError, match="reaches outside the 100x60 frames"):
        Crop(roi=(90, 0, 20, 20)).box(60, 100)
    with pytest.raises(Cnn2GnnError, match="exclude each other"):
        Crop(roi=(0, 0, 1, 1), center=0.5)
    with pytest.raises(Cnn2GnnError, match=r"\(0, 1\]"):
        Crop(center=1.5)
    with pytest.raises(Cnn2GnnError, match="X,Y,W,H"):
        parse_roi("1,2,3")
    assert parse_roi("1,2,3,4") == (1, 2, 3, 4)
