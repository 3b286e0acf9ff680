"""unscratch.io: precision round trips, metadata kept, atomic writes, clear errors."""
from __future__ import annotations

import os
import struct

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import near
from unscratch import InputError, demo, io

ICC = b"\x00\x00\x02\x0cfake-icc-profile-bytes" * 20


def sample(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random(shape).astype(np.float32)
    return x if dtype == np.float32 else (x * np.iinfo(dtype).max).astype(dtype)


@pytest.mark.parametrize("ext,dtype", [(".png", np.uint8), (".png", np.uint16), (".tif", np.uint8),
                                       (".tif", np.uint16), (".tif", np.float32)])
@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3), (20, 30, 4)])
def test_lossless_round_trip(tmp_path, ext, dtype, shape):
    img = sample(shape, dtype)
    path = io.write(tmp_path / f"x{ext}", img)
    back = io.read(path)
    assert back.dtype == img.dtype and back.shape == img.shape
    np.testing.assert_array_equal(back, img)


def test_float_to_png_is_16_bit(tmp_path):
    img = sample((8, 9, 3), np.float32)
    with pytest.warns(io.LossWarning, match="float samples are stored as 16-bit integers"):
        back = io.read(io.write(tmp_path / "f.png", img))
    assert back.dtype == np.uint16
    assert np.abs(back / 65535.0 - img).max() <= 0.5 / 65535 + 1e-7


def test_jpeg_round_trip_is_close(tmp_path):
    img = np.full((32, 32, 3), 120, np.uint8)
    back = io.read(io.write(tmp_path / "x.jpg", img))
    assert back.shape == img.shape and np.abs(back.astype(int) - 120).max() <= 2


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_icc_and_resolution_survive(tmp_path, ext):
    img = sample((16, 16, 3), np.uint8)
    info = io.ImageInfo(icc_profile=ICC, dpi=(300.0, 300.0))
    path = io.write(tmp_path / f"a{ext}", img, info=info)
    _, info = io.read_with_info(path)
    assert info.icc_profile == ICC
    assert info.dpi is not None and abs(info.dpi[0] - 300) < 1 and abs(info.dpi[1] - 300) < 1


def test_refuses_to_overwrite_the_input(tmp_path):
    img = sample((8, 8, 3), np.uint8)
    src = io.write(tmp_path / "in.png", img)
    before = src.read_bytes()
    with pytest.raises(InputError, match="refusing to overwrite the input"):
        io.write(src, img * 0, source=src)
    assert src.read_bytes() == before
    io.write(src, img, source=src, overwrite_source=True)  # explicit request is honoured


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    img = sample((8, 8, 3), np.uint8)
    target = tmp_path / "out.tif"
    old = io.write(target, img)
    before = old.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        io.write(target, img * 0)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


@pytest.mark.parametrize("content,message", [(b"", "not a readable PNG"),
                                             (b"\x89PNG\r\n\x1a\nbroken", "not a readable PNG")])
def test_corrupt_files(tmp_path, content, message):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(InputError, match=message):
        io.read(p)


def test_truncated_and_unsupported(tmp_path):
    good = io.write(tmp_path / "g.tif", sample((64, 64, 3), np.uint16))
    (tmp_path / "t.tif").write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="t.tif"):
        io.read(tmp_path / "t.tif")
    (tmp_path / "x.bmp").write_bytes(b"BM")
    with pytest.raises(InputError, match="unsupported file type"):
        io.read(tmp_path / "x.bmp")
    with pytest.raises(InputError, match="no such file"):
        io.read(tmp_path / "missing.png")
    tifffile.imwrite(tmp_path / "cmyk.tif", np.zeros((8, 8, 4), np.uint8), photometric="separated")
    # not RGBA: a CMYK scan
    with pytest.raises(InputError, match="cmyk.tif: SEPARATED TIFF is not supported"):
        io.read(tmp_path / "cmyk.tif")


def test_a_palette_tiff_is_read_as_its_colours(tmp_path):
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, 1] = (65535, 0, 257 * 128)
    tifffile.imwrite(tmp_path / "p.tif", np.array([[0, 1]], np.uint8), photometric="palette",
                     colormap=colormap)
    assert io.read(tmp_path / "p.tif").tolist() == [[[0, 0, 0], [255, 0, 128]]]


def exif_block(orientation=1, artist=b"A. Archivist\0"):
    """A little-endian EXIF TIFF structure: IFD0 with Orientation and Artist."""
    entries = [(0x0112, 3, 1, struct.pack("<HH", orientation, 0))]
    head = 8 + 2 + 12 * 2 + 4
    entries.append((0x013B, 2, len(artist), struct.pack("<I", head)))
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", t, k, n) + v for t, k, n, v in entries)
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + artist


def with_jpeg_segments(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_applied_as_viewers_do_and_written_upright(tmp_path, orientation):
    """A phone or camera JPEG stores its pixels sideways with an EXIF flag; masks and selections are
    drawn on the picture as shown, so reading turns it as OpenCV's own EXIF-aware decoder does (the
    reference), and the output, stored upright, must not be turned again by viewers (its flag says
    1). TIFF's Orientation tag is read the same way."""
    img = np.full((24, 40), 40, np.uint8)
    img[2:6, 3:15] = 250   # marks no turn or flip maps onto themselves
    img[15:22, 30:37] = 160
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 100])
    data = with_jpeg_segments(buf.tobytes(), segment(0xE1, b"Exif\0\0" + exif_block(orientation)))
    src = tmp_path / "phone.jpg"
    src.write_bytes(data)
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, 0]
    image, info = io.read_with_info(src)
    np.testing.assert_array_equal(image, reference)
    for ext in (".jpg", ".png"):
        out = io.write(tmp_path / f"out{ext}", image, info=info, source=src)
        with Image.open(out) as shown:
            assert shown.getexif().get(0x0112) == 1
            assert shown.getexif().get(0x013B) == "A. Archivist"
            assert shown.size == (image.shape[1], image.shape[0])
    tif = tmp_path / "sideways.tif"
    tifffile.imwrite(tif, img, photometric="minisblack", extratags=[(274, 3, 1, orientation, True)])
    turned = io.read(tif)
    assert turned.shape == reference.shape and np.abs(turned.astype(int) - reference).max() <= 4


def copy(src, dst) -> io.ImageInfo:
    """What the CLI does with a file's metadata: read it with the pixels, write both, read the
    copy's."""
    image, info = io.read_with_info(src)
    return io.read_with_info(io.write(dst, image, info=info, source=src))[1]


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><dc:identifier>ACC-1987-042</dc:identifier>'
       b'</rdf:RDF></x:xmpmeta>')


def test_exif_xmp_and_the_formats_own_text_survive(tmp_path):
    """Archives keep accession numbers, captions and credits in a scan's XMP, IPTC and text tags; a
    restored copy that dropped them would be cut off from its catalogue record."""
    img = sample((16, 20, 3), np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    iptc = b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\x0c\x1c\x02\x78\0\x07caption"
    jpg = tmp_path / "scan.jpg"
    jpg.write_bytes(with_jpeg_segments(buf.tobytes(), segment(0xE1, b"Exif\0\0" + exif_block()),
                                       segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + XMP),
                                       segment(0xED, iptc), segment(0xFE, b"scanned 1987")))
    image, info = io.read_with_info(jpg)
    out, out_info = io.read_with_info(io.write(tmp_path / "restored.jpg", image, info=info))
    assert out_info.xmp == XMP and out_info.exif == info.exif and out_info.native == info.native
    with Image.open(tmp_path / "restored.jpg") as shown:
        assert shown.getexif().get(0x013B) == "A. Archivist"
        assert shown.info.get("comment") == b"scanned 1987"
    # XMP goes to every format; EXIF to PNG, and its text tags (here the artist) to TIFF as tags;
    # IPTC and comments only to JPEG, which alone can hold them
    said = "cannot hold the source's JPEG IPTC data and comments; write .jpg to keep them"
    with pytest.warns(io.LossWarning, match=f"PNG {said}"):
        png_info = io.read_with_info(io.write(tmp_path / "restored.png", image, info=info))[1]
    assert png_info.xmp == XMP and png_info.exif == info.exif and png_info.native is None
    with pytest.warns(io.LossWarning, match=f"TIFF {said}"):
        tif_info = io.read_with_info(io.write(tmp_path / "restored.tif", image, info=info))[1]
    assert tif_info.xmp == XMP and tif_info.native == (".tif", [(315, 2, 0, b"A. Archivist", True)])

    png = tmp_path / "scan.png"
    text = [(b"tEXt", b"Title\0Wedding, 1952"), (b"iTXt", b"Author\0\0\0\0\0J\xc3\xb6rg")]
    io.write(png, image, info=io.ImageInfo(native=(".png", text)))
    assert copy(png, tmp_path / "restored2.png").native == (".png", text)
    with Image.open(tmp_path / "restored2.png") as shown:
        assert shown.text["Title"] == "Wedding, 1952" and shown.text["Author"] == "Jörg"

    tif = tmp_path / "scan.tif"
    tifffile.imwrite(tif, img, photometric="rgb",
                     extratags=[(315, 2, 0, "Jörg M.".encode(), True), (33432, 2, 0, "CC0", True),
                                (33723, 4, 2, (0x1C020500, 0x03414243), True),
                                (700, 1, len(XMP), XMP, True)])
    assert copy(tif, tmp_path / "restored.tiff").xmp == XMP
    with tifffile.TiffFile(tmp_path / "restored.tiff") as t:
        tags = t.pages[0].tags
        assert tags["Artist"].value == "Jörg M." and tags["Copyright"].value == "CC0"
        assert bytes(tags[33723].value) == struct.pack("<II", 0x1C020500, 0x03414243)


@pytest.mark.parametrize("sampling", ["420", "422", "444", "gray"])
def test_a_jpeg_from_a_jpeg_reencodes_only_the_blocks_a_repair_changed(tmp_path, sampling):
    """Encoding the whole repaired scan again would cost every pixel a JPEG generation. Only the
    8-16 px blocks that hold a repair are re-encoded; every pixel 2 px (chroma upsampling) clear of
    them decodes exactly as the source did, and the repair itself survives one encoding at the
    source's quality."""
    photo = cv2.resize(io.read(demo.SAMPLE), (250, 203), interpolation=cv2.INTER_AREA)
    if sampling == "gray":
        photo, params = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), []
    else:
        photo = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
        params = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                  getattr(cv2, f"IMWRITE_JPEG_SAMPLING_FACTOR_{sampling}")]
    src = tmp_path / "scan.jpg"
    encoded = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 85, *params])[1]
    src.write_bytes(encoded.tobytes())
    scan = io.read(src)
    repaired = scan.copy()
    repaired[100:104, 37:190] = 255 - repaired[100:104, 37:190]
    repaired[160:163, 20:23] = 0
    out = io.read(io.write(tmp_path / "restored.jpg", repaired, source=src))
    changed = (repaired != scan).reshape(scan.shape[0], scan.shape[1], -1).any(axis=2)
    around = near(changed, 16 + 2)
    assert np.array_equal(out[~around], scan[~around])
    assert np.abs(out.astype(int) - repaired)[changed].mean() < 12
    # the whole-image encoder, for comparison, changes pixels everywhere
    plain = io.read(io.write(tmp_path / "plain.jpg", repaired, jpeg_quality=85))
    assert (plain[~around] != scan[~around]).mean() > 0.02


def test_broken_metadata_does_not_cost_the_picture(tmp_path):
    """Truncated EXIF and a malformed XMP chunk: the pixels are read as stored, the broken parts
    dropped."""
    img = sample((12, 16, 3), np.uint8)
    png = io.write(tmp_path / "a.png", img)
    data = png.read_bytes()
    chunks = (io.metadata.png_chunk(b"eXIf", b"II*\0\x08\0\0\0\x05")
              + io.metadata.png_chunk(b"iTXt", io.metadata.PNG_XMP + b"\x01\x00en"))
    png.write_bytes(data[:33] + chunks + data[33:])
    back, info = io.read_with_info(png)
    np.testing.assert_array_equal(back, img)
    assert info.xmp is None and info.native is None
