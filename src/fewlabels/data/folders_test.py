"""Tests for image folders: the pre-scan names every bad file, and tf.data streams the rest."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fewlabels.data.folders import image_dataset, scan_image_folder
from fewlabels.errors import FewLabelsError, FewLabelsWarning


def save(path, size=(6, 5), fmt=None, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.full((size[1], size[0], 3), value, dtype=np.uint8)
    Image.fromarray(array).save(path, format=fmt)
    return path


def png_declaring(width, height):
    """A tiny PNG whose header declares width x height (a decompression bomb's shape)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.fixture
def good_root(tmp_path):
    root = tmp_path / "data"
    for i in range(3):
        save(root / "cat" / f"c{i}.png", value=10 * i)
        save(root / "dog" / f"d{i}.jpg", fmt="JPEG", value=200)
    save(root / "unlabeled" / "u0.png")
    save(root / "unlabeled" / "nested" / "u1.bmp", fmt="BMP")
    return root


def test_scan_lists_classes_labels_and_unlabeled_images(good_root):
    folder = scan_image_folder(good_root)
    assert folder.classes == ["cat", "dog"]
    assert sorted(folder.y.tolist()) == [-1, -1, 0, 0, 0, 1, 1, 1]
    assert folder.bad == []


def test_a_separate_unlabeled_dir_is_read(good_root, tmp_path):
    extra = tmp_path / "pool"
    save(extra / "p.png")
    assert int(np.sum(scan_image_folder(good_root, unlabeled_dir=extra).y == -1)) == 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cat/broken.png", b"not an image at all", r"broken\.png: corrupt or truncated"),
        ("cat/huge.png", png_declaring(50_000, 50_000),
         r"huge.png: declares 50000 x 50000 pixels.*rejected before decoding"),
        ("cat/notes.txt", b"hello", r"notes.txt: unsupported extension '.txt'"),
    ],
)
def test_each_bad_file_is_named_before_training(good_root, name, content, message):
    (good_root / name).write_bytes(content)
    with pytest.raises(FewLabelsError, match=message):
        scan_image_folder(good_root)


def test_a_truncated_png_is_caught(good_root):
    whole = save(good_root / "cat" / "big.png", size=(64, 64)).read_bytes()
    (good_root / "cat" / "big.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(FewLabelsError, match=r"big\.png: corrupt or truncated"):
        scan_image_folder(good_root)


def test_a_bmp_named_jpg_is_caught(good_root):
    save(good_root / "dog" / "odd.jpg", fmt="BMP")
    with pytest.raises(FewLabelsError, match=r"odd.jpg: is a BMP file with a .jpg extension"):
        scan_image_folder(good_root)


def test_a_symlink_out_of_the_root_is_refused(good_root, tmp_path):
    outside = save(tmp_path / "secret.png")
    (good_root / "cat" / "link.png").symlink_to(outside)
    with pytest.raises(FewLabelsError, match=r"link.png: escapes the data root"):
        scan_image_folder(good_root)


@pytest.mark.parametrize("name", ["unlabeled", "fish"])
def test_a_subfolder_linking_out_of_the_root_is_refused_before_any_walk(
        good_root, monkeypatch, name):
    import shutil

    from fewlabels.data import folders

    shutil.rmtree(good_root / name, ignore_errors=True)
    (good_root / name).symlink_to("/")
    walked = []
    monkeypatch.setattr(folders, "_files", lambda folder: walked.append(folder) or [])
    with pytest.raises(FewLabelsError, match=rf"{name}: links outside the data root"):
        scan_image_folder(good_root)
    assert walked == []  # refused at once: not one folder was listed


def test_an_empty_class_folder_is_an_error(good_root):
    (good_root / "bird").mkdir()
    with pytest.raises(FewLabelsError, match="the class folder 'bird' is empty"):
        scan_image_folder(good_root)


def test_skip_leaves_bad_files_out_and_warns_with_the_report(good_root):
    (good_root / "cat" / "broken.png").write_bytes(b"junk")
    with pytest.warns(FewLabelsWarning, match="skipping 1 bad image file"):
        folder = scan_image_folder(good_root, on_bad_image="skip")
    assert len(folder.bad) == 1 and "broken.png" in folder.bad[0]
    assert all(p.name != "broken.png" for p in folder.paths)


def test_image_dataset_streams_resized_images_with_labels(good_root):
    folder = scan_image_folder(good_root)
    batches = list(image_dataset(folder, image_size=(8, 8), channels=1, batch_size=4))
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert images.shape == (6, 8, 8, 1) and images.dtype == np.float32
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
    unlabeled = list(image_dataset(folder, image_size=(8, 8), labeled=False))
    assert sum(len(b[1]) for b in unlabeled) == 2
    assert image_dataset(folder, image_size=(8, 8)).options().autotune.enabled is False


def test_scan_image_files_finds_images_in_any_layout_and_names_bad_ones(good_root):
    from fewlabels.data.folders import scan_image_files

    files = scan_image_files(good_root)
    assert len(files.paths) == 8 and np.all(files.y == -1) and files.classes == []
    (good_root / "notes.txt").write_text("not an image")
    with pytest.raises(FewLabelsError, match=r"notes\.txt: unsupported extension"):
        scan_image_files(good_root)
    with pytest.warns(FewLabelsWarning, match="skipping 1 bad image"):
        assert len(scan_image_files(good_root, on_bad_image="skip").paths) == 8


def test_a_disk_cache_serves_later_epochs_and_shuffling_changes_the_order(good_root, tmp_path):
    folder = scan_image_folder(good_root)
    ds = image_dataset(folder, image_size=(4, 4), channels=1, batch_size=6, shuffle=True,
                       seed=1, cache=tmp_path / "cache")
    first = next(iter(ds))[0].numpy()
    assert list(tmp_path.glob("cache*"))  # written on the first pass
    for path in folder.paths:
        path.unlink()  # later epochs come from the cache, not the files
    second = next(iter(ds))[0].numpy()
    assert sorted(first.sum(axis=(1, 2, 3))) == sorted(second.sum(axis=(1, 2, 3)))
    assert not np.array_equal(first, second) or len(first) < 2


def test_an_animated_gif_counts_every_frame_against_the_pixel_limit(good_root):
    frames = [Image.fromarray(np.full((100, 100), i, np.uint8)) for i in range(20)]
    frames[0].save(good_root / "cat" / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(FewLabelsError, match=r"anim.gif: declares 100 x 100 pixels in 20 "
                                             "frames, more than the limit of 100,000"):
        scan_image_folder(good_root, max_pixels=100_000)
    assert len(scan_image_folder(good_root, max_pixels=200_000).paths) == 9


def test_a_bmp_the_training_decoder_cannot_read_is_refused_at_the_scan(good_root):
    Image.fromarray(np.eye(8, dtype=np.uint8) * 255).convert("1").save(
        good_root / "cat" / "one_bit.bmp")
    with pytest.raises(FewLabelsError, match=r"one_bit\.bmp: is a 1-bit BMP with compression 0, "
                                             "which the training decoder cannot read"):
        scan_image_folder(good_root)


def test_a_camera_multi_picture_jpeg_is_accepted(good_root):
    first = Image.fromarray(np.full((6, 5, 3), 50, np.uint8))
    second = Image.fromarray(np.full((6, 5, 3), 90, np.uint8))
    first.save(good_root / "dog" / "camera.jpg", format="MPO", save_all=True,
               append_images=[second])
    with Image.open(good_root / "dog" / "camera.jpg") as image:
        assert image.format == "MPO"
    folder = scan_image_folder(good_root)
    assert any(p.name == "camera.jpg" for p in folder.paths)
    assert len(list(image_dataset(folder, image_size=(5, 5), channels=3, batch_size=16))) == 1


def test_a_symlink_loop_is_a_bad_file_not_a_crash(good_root):
    (good_root / "cat" / "loop_a.png").symlink_to(good_root / "cat" / "loop_b.png")
    (good_root / "cat" / "loop_b.png").symlink_to(good_root / "cat" / "loop_a.png")
    with pytest.raises(FewLabelsError, match=r"loop_a\.png: cannot be resolved"):
        scan_image_folder(good_root)
    with pytest.warns(FewLabelsWarning, match="skipping 2 bad image file"):
        folder = scan_image_folder(good_root, on_bad_image="skip")
    assert len(folder.paths) == 8


def test_an_unlabeled_folder_name_that_does_not_exist_is_refused(good_root):
    with pytest.raises(FewLabelsError, match=r"no subfolder 'unlabelled' of unlabeled images "
                                             r"\(its subfolders: \['cat', 'dog', 'unlabeled'\]"):
        scan_image_folder(good_root, unlabeled="unlabelled")


def test_the_bad_file_report_names_the_command_line_flag(good_root):
    (good_root / "cat" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(FewLabelsError, match="pass --on-bad-image skip"):
        scan_image_folder(good_root)
