"""Data-parallel training with torch.distributed: `--procs N` spawns N ranks; torchrun works the same way."""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections.abc import Callable

import torch
import torch.distributed as dist

from mnist_tui.engine.config import TrainConfig
from mnist_tui.engine.device import threads_per_process
from mnist_tui.runfolder.status import SUCCESS

CONTEXT = multiprocessing.get_context("spawn")  # spawn: the only start method on Windows


def backend_for(device: str) -> str:
    """NCCL between GPUs, gloo on CPU."""
    wants_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    return "nccl" if wants_cuda and dist.is_nccl_available() else "gloo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def init_process(rank: int, world: int, config: TrainConfig, init_method: str | None = None) -> None:
    """Join the process group (from arguments, or from torchrun's RANK/WORLD_SIZE/MASTER_* env)."""
    backend = backend_for(config.device)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    if init_method:
        dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world)
    else:
        dist.init_process_group(backend)


def _rank_main(rank: int, world: int, init_method: str, config_dict: dict, after: Callable | None) -> None:
    from mnist_tui.cli.console import EpochPrinter
    from mnist_tui.training.train import fit, prepare_process

    config = TrainConfig.from_dict(config_dict)
    config = config.replace(threads=threads_per_process(world, config.threads))
    prepare_process(config)
    init_process(rank, world, config, init_method)
    try:
        result = fit(config, EpochPrinter(prefix="" if world == 1 else "[rank 0] ") if rank == 0 else None)
        if after is not None:
            after(rank, result)
    finally:
        dist.destroy_process_group()


def launch(config: TrainConfig, procs: int, after: Callable | None = None) -> int:
    """Spawn `procs` ranks on this machine and wait; rank 0 prints and writes the run folder."""
    if procs < 1:
        raise ValueError("--procs must be at least 1")
    init_method = f"tcp://127.0.0.1:{free_port()}"
    processes = [
        CONTEXT.Process(target=_rank_main, args=(rank, procs, init_method, config.to_dict(), after), name=f"rank{rank}")
        for rank in range(procs)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()
        raise
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        print(f"mnist-tui: error: rank(s) {', '.join(failed)} failed")
        return 1
    return 0


def torchrun_main(config: TrainConfig) -> int:
    """Under torchrun (RANK and WORLD_SIZE set): join the group it set up and train."""
    from mnist_tui.cli.console import EpochPrinter
    from mnist_tui.training.train import fit, prepare_process

    world = int(os.environ["WORLD_SIZE"])
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", world))  # ranks sharing this machine's cores
    config = config.replace(threads=threads_per_process(local_ranks, config.threads))
    prepare_process(config)
    init_process(int(os.environ["RANK"]), world, config)
    try:
        result = fit(config, EpochPrinter(prefix="[rank 0] ") if dist.get_rank() == 0 else None)
    finally:
        dist.destroy_process_group()
    return 0 if result.status in SUCCESS else 1


def under_torchrun() -> bool:
    return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1
