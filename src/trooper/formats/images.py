"""Images between formats: data URLs, base64 with its media type (sniffed when unsaid)."""

from __future__ import annotations

from trooper.conversation import ImageBlock


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`data:image/png;base64,AAAA` -> ("image/png", "AAAA"); None for anything else."""
    if not url.startswith("data:"):
        return None
    header, comma, data = url.partition(",")
    if not comma or not header.endswith(";base64"):
        return None
    return header[5:-7], data


def image_from_url(url: str) -> ImageBlock:
    parsed = parse_data_url(url)
    if parsed is None:
        return ImageBlock(url=url)
    return ImageBlock(media_type=parsed[0], data=parsed[1])


def image_base64(block: ImageBlock) -> tuple[str, str] | None:
    """(media_type, base64 data) of an image, also when it came as a data URL."""
    if block.data:
        return block.media_type, block.data
    return parse_data_url(block.url)


def image_url(block: ImageBlock) -> str:
    """An image as a URL: the URL itself, or a data URL for base64 data."""
    if block.data:
        return f"data:{block.media_type or 'image/png'};base64,{block.data}"
    return block.url


_MAGIC_MEDIA_TYPES = (("iVBORw0KGgo", "image/png"), ("/9j/", "image/jpeg"), ("R0lGOD", "image/gif"), ("UklGR", "image/webp"))


def sniff_media_type(data: str) -> str:
    """The media type of base64 image data from its first bytes (Ollama sends no type)."""
    for prefix, media_type in _MAGIC_MEDIA_TYPES:
        if data.startswith(prefix):
            return media_type
    return "image/png"
