"""A second hostile round: code from image files, lost user files, silent wrong results.

Written as a hostile user would: each crafted input is refused with a
non-zero exit status and one line naming the file or flag, no traceback, and
nothing of the user's changed (a marker file a payload would write never
appears, a victim file keeps its bytes); a result that must reproduce does.
"""

import os
import shutil

import numpy as np
import PIL.EpsImagePlugin
import PIL.Image
import pytest

from conftest import assert_one_line, one_error_line, run_tool
from test_own_data import write_folder
from keras_slt.data import DataError, cifar_folder, image_folder
from keras_slt.experiments import search


# --- code from image files ----------------------------------------------------------


def postscript(marker):
    """An EPS file whose PostScript writes `marker` when Ghostscript renders it."""
    return (f"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\n"
            f"/f ({marker}) (w) file def f (ran) writestring f closefile\nshowpage\n").encode()


@pytest.fixture
def pillow_never_parses_eps(monkeypatch):
    """Fails the test if Pillow's EPS plugin parses a file (with Ghostscript installed or not)."""
    parsed = []
    real = PIL.EpsImagePlugin.EpsImageFile._open
    monkeypatch.setattr(PIL.EpsImagePlugin.EpsImageFile, "_open",
                        lambda image: parsed.append(image.fp) or real(image))
    yield
    assert not parsed


def test_the_payload_runs_where_pillow_picks_the_decoder(tmp_path):
    """The crafted file is a real threat here: opened by content, Ghostscript writes the marker."""
    if shutil.which("gs") is None:
        pytest.skip("Ghostscript is not installed: the payload cannot run (apt-get install ghostscript)")
    (tmp_path / "x.png").write_bytes(postscript(tmp_path / "marker"))
    with PIL.Image.open(tmp_path / "x.png") as image:
        assert image.format == "EPS"
        try:
            image.load()
        except OSError:
            pass
    assert (tmp_path / "marker").exists()


@pytest.mark.parametrize("name", ["000.png", "001.jpg", "more/x.jpeg"])
def test_image_folder_never_hands_postscript_to_pillow(tmp_path, name, pillow_never_parses_eps):
    # 000.png sorts first in its class: its header gives the folder's image size.
    write_folder(tmp_path / "images", per_class=3)
    crafted = tmp_path / "images" / "dog" / name
    crafted.parent.mkdir(exist_ok=True)
    crafted.write_bytes(postscript(tmp_path / "marker"))
    for formats in (image_folder.DEFAULT_FORMATS, image_folder.FORMATS):
        with pytest.raises(DataError, match="is not a") as error:
            image_folder.load_dir(str(tmp_path / "images"), image_formats=formats)
        assert_one_line(error.value, crafted, "(it starts with b'%!PS-Ado')")
    assert not (tmp_path / "marker").exists()


def test_cifar10_jpeg_folder_never_hands_postscript_to_pillow(tmp_path, pillow_never_parses_eps):
    root = tmp_path / "cifar"
    for split in cifar_folder.SPLITS:
        for name in cifar_folder.CLASSES:
            os.makedirs(root / split / name)
            PIL.Image.new("RGB", (32, 32)).save(root / split / name / "0000.jpg")
    crafted = root / "test" / "truck" / "0001.jpg"
    crafted.write_bytes(postscript(tmp_path / "marker"))
    with pytest.raises(DataError, match="it is not a JPEG file") as error:
        cifar_folder.load_dir(str(root))
    assert_one_line(error.value, crafted)
    assert not (tmp_path / "marker").exists()


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["image_folder", "cifar10"])
def test_search_refuses_postscript_named_like_an_image(tmp_path, dataset):
    if dataset == "cifar10":
        root = tmp_path / "cifar"
        for split in cifar_folder.SPLITS:
            for name in cifar_folder.CLASSES:
                os.makedirs(root / split / name)
                PIL.Image.new("RGB", (32, 32)).save(root / split / name / "0000.jpg")
        crafted = root / "train" / "airplane" / "0001.jpg"
    else:
        root = tmp_path / "images"
        write_folder(root, per_class=2)
        crafted = root / "cat" / "x.png"
    crafted.write_bytes(postscript(tmp_path / "marker"))
    result = run_tool("tools/search.py", f"--dataset={dataset}", f"--data_dir={root}", "--model=fc",
                      "--epochs=1", f"--output_dir={tmp_path / 'run'}", timeout=300)
    assert_one_line(one_error_line(result, 2), crafted, "is not a")
    assert not (tmp_path / "marker").exists()


def test_bmp_and_gif_are_read_only_when_asked_for(tmp_path):
    write_folder(tmp_path, per_class=3)
    bmp = tmp_path / "owl" / "zz.bmp"
    PIL.Image.new("RGB", (5, 6), "white").save(bmp)
    with pytest.raises(DataError, match="it is a BMP file, and only JPEG, PNG images are read") as error:
        image_folder.load_dir(str(tmp_path))
    assert_one_line(error.value, bmp, "add BMP to image_formats")
    x_train, _, x_test, _, _ = image_folder.load_dir(str(tmp_path), image_formats="png,bmp")
    assert len(x_train) + len(x_test) == 10
    # A PNG named .jpg is read as what it is, a PNG; formats are known by content, never by name.
    os.rename(bmp, tmp_path / "owl" / "zz.jpg")
    PIL.Image.new("RGB", (5, 6), "white").save(tmp_path / "owl" / "zz.jpg", format="PNG")
    assert len(image_folder.load_dir(str(tmp_path))[0]) == 8


@pytest.mark.parametrize("settings, message", [
    ({"image_formats": "png,eps"}, "image_formats must be some of JPEG, PNG, BMP, GIF; got 'png,eps'"),
    ({"image_formats": ""}, "image_formats must be some of"),
    ({"image_formats": "png", "dataset": "fashion_mnist", "data_dir": None},
     "image_formats=png does not apply to dataset fashion_mnist"),
])
def test_image_formats_setting_is_checked(tmp_path, settings, message):
    config = search.SearchConfig(**{"model": "fc", "dataset": "image_folder", "data_dir": str(tmp_path),
                                    "output_dir": str(tmp_path / "run"), **settings})
    with pytest.raises(search.ConfigError, match=message) as error:
        config.validate()
    assert "\n" not in str(error.value)
