"""The exit codes of gdacot's commands, one home for them (the README's "When a run stops").

  DONE       0   the run finished: eval.json is written
  FAILED     1   an unexpected error, or a save that failed on the way out; the rerun resumes
                 from the newest complete checkpoint
  BAD_INPUT  2   a config, flag, dataset, checkpoint or workdir was refused before anything of
                 it was written (`error: ...` on stderr)
  PREEMPTED  75  stopped by SIGTERM with everything resumable (a checkpoint saved, or nothing
                 yet worth saving): rerun the same command. sysexits' EX_TEMPFAIL, "try again":
                 a Kubernetes Job restarts a pod that exited non-zero, never one that exited 0.
"""

DONE, FAILED, BAD_INPUT, PREEMPTED = 0, 1, 2, 75
