"""The non_finite warning's words: where NaN or Inf first appeared, and what to do about it
(``describe``), and the error ``run.step`` raises under ``on_non_finite="stop"``."""

NON_FINITE_FIX = ("Lower the learning rate (e.g. to {lr}), clip the gradients "
                  "(layerwise_torch.watch(..., clip={{\"mode\": \"norm\", \"max\": 1.0}})), and check the init scale.")

INPUT_FIX = ("Check the data: a sample of this batch holds NaN or Inf (a missing value, a division by zero "
             "in preprocessing); find it with torch.isfinite(x).all(dim=1) and drop or fill it.")

LOSS_FIX = ("Check this batch's targets for NaN or Inf (torch.isfinite(y).all()) and the loss function: the "
            "model's outputs were finite. If the outputs are huge, ")

DATA_FIRST_FIX = ("If this batch holds NaN or Inf (torch.isfinite(x).all(), torch.isfinite(y).all()), drop or fill "
                  "those samples; otherwise ")


class NonFiniteError(RuntimeError):
    """Raised by ``run.step`` when NaN or Inf appeared (``on_non_finite="stop"``)."""

    def __init__(self, message, step, layer):
        super().__init__(message)
        self.step = step
        self.layer = layer


def describe(k, at, where, lr, stop, final, data_first):
    """(text, message, fix) of step k's non_finite warning. at: the layer as the CLI says it
    ("layer 2 (model.fc2)"); where: "loss", "inputs" or what of the layer ("activations", "gradients
    ...", "weights ..."); lr: the optimizer's first learning rate or None; stop: the run stops here;
    final: found as the run ended; data_first: the weights were finite (a step not logged), so the
    step's batch may be the cause."""
    if where == "loss":
        text = f"Non-finite values (NaN or Inf) first appeared in the loss of output {at} at step {k}"
    elif where == "inputs":
        text = f"Non-finite values (NaN or Inf) are in the inputs of step {k}'s batch (given to {at})"
    else:
        text = f"Non-finite values (NaN or Inf) first appeared in {at}'s {where} at step {k}"
    message = text + ("; the run stopped." if stop else "; found as the run ended." if final
                      else "; training goes on (on_non_finite=\"log\").")
    fix = NON_FINITE_FIX.format(lr=f"{lr / 10:.3g}" if isinstance(lr, (int, float)) else "a tenth")
    if where == "inputs":
        fix = INPUT_FIX
    elif where == "loss":  # every layer's outputs were finite: the targets first
        fix = LOSS_FIX + fix[0].lower() + fix[1:]
    elif data_first:
        fix = DATA_FIRST_FIX + fix[0].lower() + fix[1:]
    return text, message, fix
