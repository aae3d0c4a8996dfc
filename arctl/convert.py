"""`arctl convert`: any supported checkpoint container -> safetensors, keys preserved."""

from __future__ import annotations

from pathlib import Path

from arctl.errors import ArctlError
from arctl.files import atomic_write
from arctl.hub import load_state_dict
from arctl.version import __version__


def convert_to_safetensors(source: Path, target: Path, *, container: str = "auto") -> int:
    """Write ``source``'s state dict to ``target`` atomically; returns the number of tensors."""
    from safetensors.torch import save_file

    state = load_state_dict(source, container)
    if not state:  # a file of no tensors converts to nothing useful: say so rather than write it
        raise ArctlError(f"{source} holds an empty state dict (no tensors); there is nothing to convert")
    # safetensors refuses tensors that share memory; copy those so every key keeps its own entry.
    seen: set[tuple[int, int]] = set()
    tensors = {}
    for key, tensor in state.items():
        ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset()) if tensor.numel() else (0, id(tensor))
        shared = ident in seen or not tensor.is_contiguous() or tensor.untyped_storage().nbytes() != tensor.nbytes
        seen.add(ident)
        tensors[key] = tensor.contiguous().clone() if shared else tensor
    metadata = {"format": "pt", "converted_by": f"arctl {__version__}", "source": source.name}
    atomic_write(target, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    return len(tensors)
