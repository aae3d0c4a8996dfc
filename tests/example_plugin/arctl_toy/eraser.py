"""A toy concept eraser: Adam steps on a copy of the class embedding pull the concept class's next-token
distributions onto its replacement's (the null class when none is given), at every (previous token, position) the
model can see. Only the concept rows receive gradients, so every other class keeps its exact weights."""

import torch
import torch.nn.functional as F
from torch.func import functional_call

from arctl.erasers import ErasureDelta, Eraser

WEIGHT = "class_emb.weight"


class ForgetClass(Eraser):
    def erase(self, request):
        model = request.loaded.generator.model
        steps, every = self.options["steps"], self.options["checkpoint_every"]
        weight = model.class_emb.weight.detach().clone().requires_grad_()
        optimiser = torch.optim.Adam([weight], lr=self.options["lr"])
        done = 0
        saved = request.resume.load()
        if saved is not None:
            with torch.no_grad():
                weight.copy_(saved.tensors["weight"])
            state = {"step": saved.tensors["adam.step"], "exp_avg": saved.tensors["adam.exp_avg"].to(weight.device),
                     "exp_avg_sq": saved.tensors["adam.exp_avg_sq"].to(weight.device)}
            optimiser.load_state_dict({"state": {0: state}, "param_groups": optimiser.state_dict()["param_groups"]})
            done = saved.state["step"]

        labels, previous, positions, target = self._contexts(model, request.pairs())
        request.progress.start(steps - done)
        loss = None
        for step in range(done, steps):
            logits = functional_call(model, {WEIGHT: weight}, (labels, previous, positions))
            loss = F.kl_div(F.log_softmax(logits, -1), target, log_target=True, reduction="batchmean")
            (weight.grad,) = torch.autograd.grad(loss, [weight])  # never touches the loaded model's .grad
            optimiser.step()
            if (step + 1) % every == 0:
                adam = optimiser.state[weight]
                request.resume.save({"weight": weight, "adam.step": adam["step"], "adam.exp_avg": adam["exp_avg"],
                                     "adam.exp_avg_sq": adam["exp_avg_sq"]}, {"step": step + 1})
            request.progress.advance()
        info = {"steps": steps, "final_loss": None if loss is None else loss.item()}
        return ErasureDelta({f"model.{WEIGHT}": weight.detach()}, info)

    @staticmethod
    def _contexts(model, pairs):
        """Every (concept, previous token, position) and the replacement's log-probabilities there."""
        vocab_plus_start = model.tok_emb.num_embeddings
        cells = model.pos_emb.shape[0]
        device = model.pos_emb.device
        previous, positions = torch.meshgrid(torch.arange(vocab_plus_start, device=device),
                                             torch.arange(cells, device=device), indexing="ij")
        previous, positions = previous.reshape(-1), positions.reshape(-1)
        labels, targets = [], []
        for concept, replacement in pairs:
            labels.append(torch.full_like(previous, concept))
            targets.append(torch.full_like(previous, model.num_classes if replacement is None else replacement))
        n = len(pairs)
        previous, positions = previous.repeat(n), positions.repeat(n)
        with torch.no_grad():
            target = F.log_softmax(model(torch.cat(targets), previous, positions), -1)
        return torch.cat(labels), previous, positions, target
