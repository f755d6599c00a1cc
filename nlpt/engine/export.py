"""A pretraining run's model written as a folder transformers loads: by `nlpt pretrain export`, and by
`nlpt pretrain --export-hf` once the run has trained (or, for a run that had already finished, when its export
is missing).
"""

from __future__ import annotations

from typing import Optional

from nlpt.common.errors import stop_note
from nlpt.common.progress import log


def export_run(run_dir: str, export_dir: str, checkpoint: Optional[str] = None) -> dict:
    """The run's newest weights (or `checkpoint`'s) and its tokenizer written to `export_dir`; returns the
    transformers config written."""
    from nlpt.engine.run import load_run
    from nlpt.models.hf import export_hf

    model, tokenizer, _ = load_run(run_dir, checkpoint=checkpoint)
    return export_hf(model, export_dir, tokenizer)


def pretrain_and_export(opts, export_dir: Optional[str]) -> Optional[dict]:
    """`engine.run.pretrain(opts)`, then the export to `export_dir` (rank 0, a run that was not stopped); the
    summary says `export_hf` when it was written. A run that had already finished is reported (its export
    is written only when missing: an earlier export is left alone). None on ranks other than 0."""
    from nlpt.common.runfolder import is_new_folder, require_new_folder
    from nlpt.engine.run import pretrain

    def before_work(finished: bool) -> None:  # the folder is refused before training, not after
        if export_dir and not finished:
            require_new_folder(export_dir, "--export-hf")

    summary = pretrain(opts, before_work=before_work)
    if summary is None or summary.get("rank", 0) != 0:
        return summary
    # a stop signal during the export: the run is trained and checkpointed, only the folder is missing
    missing = stop_note(f"the run finished at step {summary['steps']} (checkpoint {summary['checkpoint']}); "
                        f"{export_dir} was not written; rerun the same command to write it")
    if summary.get("already_finished"):
        from nlpt.engine.resume import finished_note

        log(finished_note(opts.run_dir, summary["steps"], summary["checkpoint"], summary["already_finished"]), opts.quiet)
        if export_dir and is_new_folder(export_dir):  # the run ended before its export: write it now
            with missing:
                export_run(opts.run_dir, export_dir)
            summary["export_hf"] = export_dir
            log(f"{export_dir}: exported (it was missing)", opts.quiet)
    elif export_dir and not summary["stopped_by"]:
        with missing:
            export_run(opts.run_dir, export_dir)
        summary["export_hf"] = export_dir
    return summary
