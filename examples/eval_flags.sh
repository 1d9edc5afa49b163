# Sourced by examples/sdc_sweep.sh and examples/matching_fashion_mnist.sh.
# eval_flags METHOD IPC: the `ddkit eval` flags of the method's protocol (DC: no
# augmentation; DSA, DM: DSA) and, when EVAL_EPOCHS_<IPC> is set, its epochs.
eval_flags() {
  case "$1" in dc) echo -n "";; *) echo -n "--dsa";; esac
  local epochs_var="EVAL_EPOCHS_$2"
  if [ -n "${!epochs_var:-}" ]; then echo -n " --epochs ${!epochs_var}"; fi
  echo
}
