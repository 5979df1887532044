"""LSTMGAN: the generator/discriminator pair as one ``keras.Model`` with its own steps.

Follows keras-io's ``dcgan_overriding_train_step`` / ``wgan_gp`` shape, made
distribution-correct: per-example losses averaged over the global batch (so N
workers take the same step as one), noise drawn statelessly from (seed,
step) for the global batch (``model.noise``) so a resumed run replays the same draws and N workers
draw what one would, and metrics kept in
``keras.metrics.Mean`` trackers, which sum across replicas on read.
"""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

from lstmgan_ray.model import losses as L
from lstmgan_ray.model import noise as N
from lstmgan_ray.model import scoring as S
from lstmgan_ray.model.guards import NO_BAD_STEP, FirstNonFiniteStep, SyncedLossScaleOptimizer, skip_together

__all__ = ["LSTMGAN", "NO_BAD_STEP", "FirstNonFiniteStep", "SyncedLossScaleOptimizer", "next_values_to_prices",
           "skip_together", "window_scale"]

log = logging.getLogger(__name__)


def next_values_to_prices(values: tf.Tensor, last: tf.Tensor, mu: tf.Tensor, sd: tf.Tensor,
                          transform: str) -> tf.Tensor:
    """Invert the target scaling and transform: scaled next values -> original units.

    Args:
        values: ``[batch, horizon]`` scaled transformed target values.
        last: ``[batch]`` last observed target value in original units.
        mu, sd: ``[batch]`` the series' target scaler (fitted on its training split).
        transform: the data config's ``target_transform``.
    """
    values = tf.cast(values, tf.float64)
    raw = values * sd[:, None] + mu[:, None]
    last = last[:, None]
    if transform == "log_return":
        return last * tf.exp(tf.cumsum(raw, axis=1))
    if transform == "log1p_diff":
        return (last + 1.0) * tf.exp(tf.cumsum(raw, axis=1)) - 1.0
    if transform == "diff":
        return last + tf.cumsum(raw, axis=1)
    return raw


def window_scale(features: dict, dtype) -> tf.Tensor:
    """``[batch]``: what turns a window's scaled next values back into the target's changes, less the
    mean: the series' scale ``sd`` times the window's volatility ``vol`` (``data.vol_scaling``;
    absent, as in batches from older code, it is 1)."""
    sd = tf.cast(features["sd"], dtype)
    return sd * tf.cast(features["vol"], dtype) if "vol" in features else sd




class LSTMGAN(keras.Model):
    """Conditional time-series GAN: G(window, noise) -> next values; D(past ++ next) -> logit.

    Args:
        generator, discriminator: models from ``lstmgan_ray.model.networks``.
        target_index: position of the target among the window's features; the
            discriminator sees that channel of the window as the "past".
        noise_dim: noise channels the generator expects after the features.
        target_transform: how targets were transformed, to report errors in price units.
        seed: base of the stateless noise draws.
        noise_dof: Student-t degrees of freedom of the noise (unit variance); None: Gaussian.
    """

    def __init__(self, generator, discriminator, *, target_index: int, noise_dim: int,
                 target_transform: str = "log_return", seed: int = 0, noise_dof: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.target_index = int(target_index)
        self.noise_dim = int(noise_dim)
        self.noise_dof = float(noise_dof) if noise_dof else None
        self.target_transform = target_transform
        self.seed = int(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.g_adv_tracker = keras.metrics.Mean(name="g_adv_loss")
        self.g_sup_tracker = keras.metrics.Mean(name="g_sup_loss")
        self.se_tracker = keras.metrics.Mean(name="mse")
        self.se_persist_tracker = keras.metrics.Mean(name="mse_persistence")
        self.nonfinite_tracker = FirstNonFiniteStep()
        self.built = True  # both networks are built by their factories

    def compile(self, d_optimizer, g_optimizer, *, global_batch_size: int, loss: str = "gan",
                n_critic: int = 1, gp_weight: float = 10.0, supervised_loss: str = "l1",
                supervised_weight: float = 1.0, samples_per_window: int = 1, jit_compile: bool | str = False):
        """Set optimizers and loss settings.

        Args:
            global_batch_size: the batch summed over all workers; per-example
                losses are divided by it so gradients sum to the global mean.
            loss: ``"gan"`` (non-saturating, BCE on logits) or ``"wgan-gp"``.
            n_critic: discriminator updates per generator update.
            gp_weight: gradient penalty weight (wgan-gp only).
            supervised_loss, supervised_weight: the term added to the generator's adversarial
                loss: ``energy`` (the energy score of the window's draws, a proper scoring rule),
                or the L1/L2 pull of every draw towards the real next values.
            samples_per_window: noise draws per window in the joint update (K); each is
                judged by the discriminator, and ``energy`` needs K >= 2.
            jit_compile: XLA-compile the forward and backward passes (the gradient
                computations) when every layer allows it (``"auto"``: silently skipped
                when one does not); the optimizer updates, where MultiWorkerMirroredStrategy
                all-reduces gradients, stay outside.
        """
        super().compile()
        if loss not in L.LOSSES:
            raise ValueError(f"unknown loss {loss!r}; use one of {sorted(L.LOSSES)}")
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.global_batch_size = int(global_batch_size)
        self.loss_name = loss
        self.g_loss_fn, self.d_loss_fn = L.LOSSES[loss]
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)
        self.supervised_kind = supervised_loss
        self.supervised_weight = float(supervised_weight)
        self.samples_per_window = int(samples_per_window)
        if supervised_loss == "energy" and self.samples_per_window < 2:
            raise ValueError("the energy score needs samples_per_window >= 2 draws per window")
        self.xla = self.supports_xla() if jit_compile == "auto" else bool(jit_compile) and self.supports_xla()
        if jit_compile is True and not self.xla:
            log.warning("jit_compile: skipped, a layer cannot be XLA-compiled (cuDNN LSTM kernels cannot)")
        wrap = (lambda fn: tf.function(fn, jit_compile=True)) if self.xla else (lambda fn: fn)
        self._critic_gradients = wrap(self._critic_gradients_fn)
        self._joint_gradients = wrap(self._joint_gradients_fn)

    def supports_xla(self) -> bool:
        """Keras' own rule (``Model.jit_compile="auto"``): every layer of both networks supports XLA."""
        return all(layer.supports_jit for net in (self.generator, self.discriminator) for layer in net.layers)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.g_adv_tracker,
                self.g_sup_tracker, self.se_tracker, self.se_persist_tracker, self.nonfinite_tracker]

    @property
    def loss_trackers(self):
        """The four loss means a training step reports (the rest are validation and the NaN watch)."""
        return [self.d_loss_tracker, self.g_loss_tracker, self.g_adv_tracker, self.g_sup_tracker]

    def build_optimizers(self) -> None:
        """Create optimizer slots now, so a checkpoint's state can be assigned before step one."""
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    # -- pieces -------------------------------------------------------------
    def _seed(self, salt: int) -> tf.Tensor:
        return N.step_seed(self.seed, self.g_optimizer.iterations, salt)

    @property
    def head_noise(self) -> bool:
        """Whether the noise joins after the LSTMs (``noise_placement: head``): the generator then
        takes ``[window, noise [B, K, noise_dim]]`` and returns ``[B, K, H]``."""
        return len(self.generator.inputs) == 2

    def _noise(self, shape, dtype, seed: tf.Tensor | None, noise_scale: float, shard: bool = False) -> tf.Tensor:
        """Unit-variance noise: Gaussian, or Student-t with ``noise_dof`` degrees of freedom; with
        ``shard`` (training steps), this replica's rows of the global batch's draw."""
        if noise_scale == 0:
            return tf.zeros(shape, dtype=dtype)
        if shard and seed is not None:
            return N.sharded(lambda full: self._noise(full, dtype, seed, noise_scale), shape)
        return N.unit_noise(shape, dtype, seed, self.noise_dof) * tf.cast(noise_scale, dtype)

    def generate(self, x: tf.Tensor, training: bool = False, seed: tf.Tensor | None = None,
                 noise_scale: float = 1.0, shard: bool = False) -> tf.Tensor:
        """Next values for windows ``x`` with fresh (or seeded) noise; ``noise_scale=0`` is the mode."""
        if self.head_noise:
            return self.draw(x, 1, training=training, seed=seed, noise_scale=noise_scale, shard=shard)[:, 0, :]
        if self.noise_dim:
            shape = tf.concat([tf.shape(x)[:2], [self.noise_dim]], axis=0)
            x = tf.concat([x, self._noise(shape, x.dtype, seed, noise_scale, shard)], axis=-1)
        return self.generator(x, training=training)

    def _sequence(self, x: tf.Tensor, next_values: tf.Tensor) -> tf.Tensor:
        past = tf.cast(x[:, :, self.target_index], tf.float32)
        return tf.concat([past, tf.cast(next_values, tf.float32)], axis=1)[:, :, None]

    def _average(self, per_example: tf.Tensor) -> tf.Tensor:
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)

    def _per_window(self, per_draw: tf.Tensor, draws: int) -> tf.Tensor:
        """Mean over each window's ``draws`` consecutive rows: ``[B * draws] -> [B]``."""
        return tf.reduce_mean(tf.reshape(per_draw, [-1, draws]), axis=1)

    def draw(self, x: tf.Tensor, draws: int, training: bool, seed: tf.Tensor | None,
             noise_scale: float = 1.0, shard: bool = False) -> tf.Tensor:
        """``draws`` generated next values per window, ``[B, draws, H]``: one generator pass over the
        windows repeated ``draws`` times (each row its own noise), or, with the noise at the head,
        one LSTM pass per window whose output every draw shares."""
        if self.head_noise:
            noise = self._noise(tf.stack([tf.shape(x)[0], draws, self.noise_dim]), x.dtype, seed, noise_scale, shard)
            return self.generator([x, noise], training=training)
        fake = self.generate(tf.repeat(x, draws, axis=0), training=training, seed=seed, noise_scale=noise_scale,
                             shard=shard)
        return tf.reshape(fake, [-1, draws, tf.shape(fake)[-1]])

    # -- steps --------------------------------------------------------------
    def _critic_loss(self, real_seq, fake_seq, salt: int, draws: int = 1):
        """Per-window critic loss of ``draws`` fakes per real sequence (fakes grouped by window)."""
        real_logits = tf.repeat(self.discriminator(real_seq, training=True), draws, axis=0)
        fake_logits = self.discriminator(fake_seq, training=True)
        d_per = self.d_loss_fn(real_logits, fake_logits)
        if self.loss_name == "wgan-gp":
            seed = self._seed(salt)
            alpha = N.sharded(lambda full: tf.random.stateless_uniform(full, seed=seed),
                                  [tf.shape(fake_seq)[0], 1, 1])
            d_per += self.gp_weight * L.gradient_penalty(self.discriminator, tf.repeat(real_seq, draws, axis=0),
                                                         fake_seq, alpha=alpha)
        return self._per_window(d_per, draws), fake_logits

    def _scaled(self, optimizer, loss):
        # float16's loss scaling (LossScaleOptimizer unscales when it applies); else the loss.
        return optimizer.scale_loss(loss) if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else loss

    def _critic_gradients_fn(self, x, real_seq, k: int):
        """Discriminator gradients of critic-only update ``k`` (wgan-gp's extra critic steps)."""
        fake_seq = self._sequence(x, self.generate(x, training=True, seed=self._seed(2 * k), shard=True))
        with tf.GradientTape() as tape:
            d_per, _ = self._critic_loss(real_seq, fake_seq, salt=2 * k + 1)
            d_loss = self._scaled(self.d_optimizer, self._average(d_per))
        return tape.gradient(d_loss, self.discriminator.trainable_variables)

    def _joint_gradients_fn(self, x, real_seq, real_next):
        """Both networks' gradients from one shared generator pass of K draws per window, and the
        per-window losses (each a mean over the window's draws)."""
        k = self.samples_per_window
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            samples = self.draw(x, k, training=True, seed=self._seed(N.JOINT_NOISE_DRAW), shard=True)
            fake_seq = self._sequence(tf.repeat(x, k, axis=0), tf.reshape(samples, [-1, tf.shape(samples)[-1]]))
            d_per, fake_logits = self._critic_loss(real_seq, fake_seq, salt=N.JOINT_PENALTY_DRAW, draws=k)
            adv = self._per_window(self.g_loss_fn(fake_logits), k)
            sup = L.supervised_loss(real_next, samples, self.supervised_kind)
            g_per = adv + self.supervised_weight * sup
            d_loss = self._scaled(self.d_optimizer, self._average(d_per))
            g_loss = self._scaled(self.g_optimizer, self._average(g_per))
        d_grads = d_tape.gradient(d_loss, self.discriminator.trainable_variables)
        g_grads = g_tape.gradient(g_loss, self.generator.trainable_variables)
        return d_grads, g_grads, d_per, g_per, adv, sup

    def train_step(self, data):
        """``n_critic - 1`` critic-only updates, then one joint update of both networks.

        The joint update shares one generator forward pass between the two
        tapes (as TensorFlow's DCGAN tutorial, and the design's original code,
        do): the generator is the expensive half, so this saves a third of it.
        """
        features, real_next = data
        x = tf.cast(features["x"], tf.float32)
        real_next = tf.cast(real_next, tf.float32)
        real_seq = self._sequence(x, real_next)
        step = tf.identity(self.g_optimizer.iterations)
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables
        for k in range(self.n_critic - 1):
            self.d_optimizer.apply_gradients(zip(self._critic_gradients(x, real_seq, k), d_vars))
        d_grads, g_grads, d_per, g_per, adv, sup = self._joint_gradients(x, real_seq, real_next)
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars))

        self.d_loss_tracker.update_state(d_per)
        self.g_loss_tracker.update_state(g_per)
        self.g_adv_tracker.update_state(adv)
        self.g_sup_tracker.update_state(sup)
        finite = tf.reduce_all(tf.math.is_finite(d_per)) & tf.reduce_all(tf.math.is_finite(g_per))
        self.nonfinite_tracker.update_state(finite, step)
        return {m.name: m.result() for m in self.loss_trackers}

    def forecast_errors(self, features, real_next):
        """Per-example squared errors in original units: the model's point forecast and persistence.

        The point forecast is the generator at zero noise (its mode), so that
        validation scores are deterministic and comparable across epochs.
        """
        x = tf.cast(features["x"], tf.float32)
        last = tf.cast(features["last"], tf.float64)
        mu = tf.cast(features["mu"], tf.float64)
        sd = window_scale(features, tf.float64)
        fake = self.generate(x, training=False, noise_scale=0.0)
        pred = next_values_to_prices(fake, last, mu, sd, self.target_transform)
        actual = next_values_to_prices(real_next, last, mu, sd, self.target_transform)
        se = tf.reduce_mean(tf.square(pred - actual), axis=1)
        se_persist = tf.reduce_mean(tf.square(last[:, None] - actual), axis=1)
        return se, se_persist

    def sample_scores(self, features, real_next, draws: int, seed: tf.Tensor):
        """Per-window CRPS and 90% interval coverage of ``draws`` sampled next values, both in the
        target's transformed units (log returns by default), where windows of every series and
        era are comparable; generated as at inference (no dropout, seeded noise)."""
        samples = self.draw(tf.cast(features["x"], tf.float32), draws, training=False, seed=seed)
        sd = window_scale(features, tf.float32)[:, None]
        mu = tf.cast(features["mu"], tf.float32)[:, None]
        real = tf.cast(real_next, tf.float32) * sd + mu
        samples = samples * sd[:, None] + mu[:, None]
        return S.sample_crps(real, samples), S.interval_covered(real, samples)

    def test_step(self, data):
        features, real_next = data
        se, se_persist = self.forecast_errors(features, real_next)
        self.se_tracker.update_state(se)
        self.se_persist_tracker.update_state(se_persist)
        return {"mse": self.se_tracker.result(), "mse_persistence": self.se_persist_tracker.result()}

    def call(self, x, training=False):
        return self.generate(x["x"] if isinstance(x, dict) else x, training=training)
