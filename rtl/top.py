"""The top-level design of an image: what ``generate`` emits and the benches simulate."""

from .image import CoreImage
from .netimage import NetworkImage


__all__ = ["top_for"]


def top_for(image):
    """The top-level component for ``image``, presenting the host interface: a
    :class:`~spikefab.rtl.core_host.CoreHost` for a :class:`CoreImage`, a
    :class:`~spikefab.rtl.mesh.Mesh` for a :class:`NetworkImage`. Every memory is
    initialised from the image."""
    if isinstance(image, NetworkImage):
        from .mesh import Mesh
        return Mesh(image)
    if isinstance(image, CoreImage):
        from .core_host import CoreHost
        return CoreHost(image)
    raise TypeError(f"image must be a CoreImage or a NetworkImage, not {type(image).__name__}")
