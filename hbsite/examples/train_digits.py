"""Train an incremental linear classifier on scikit-learn's digits, one epoch per resource unit.

Run by hbsite: hyperparameters arrive on the command line, the resource (`epochs`) is the
total number of epochs this rung trains to. With `resume: true` the model is saved in the
checkpoint dir after every epoch and a promoted trial continues from where its config's
previous rung stopped, instead of training from scratch.
"""

import argparse
import pickle
import sys
import warnings

import hbclient

try:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
except ImportError as exc:  # the server runs without them; the example needs them
    sys.exit(
        f"the example trainer needs numpy and scikit-learn ({exc.name} is missing): "
        "install them with `pip install 'hbsite[examples]'` where the runner runs"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--alpha", type=float, default=1e-4)
    # The SGD classifier's loss function (a hyperparameter), not the reported metric `loss`.
    parser.add_argument("--loss-function", "--loss", dest="loss_function", default="log_loss")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def load_data(seed: int):
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def restore(path, args):
    """Return (model, epochs done): from the checkpoint when resuming, else a fresh model."""
    if path.exists():
        with path.open("rb") as f:
            state = pickle.load(f)
        return state["model"], state["epoch"]
    model = SGDClassifier(
        loss=args.loss_function,
        alpha=args.alpha,
        learning_rate="constant",
        eta0=max(args.learning_rate, 1e-6),
        random_state=args.seed,
    )
    return model, 0


def train(model, data, classes, epochs, rng, done=0, batch_size=64):
    """Train epochs done+1..epochs; yield (epoch, validation loss, validation accuracy)."""
    x_train, x_val, y_train, y_val = data
    for epoch in range(done + 1, epochs + 1):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.partial_fit(x_train[batch], y_train[batch], classes=classes)
        proba = np.clip(model.predict_proba(x_val), 1e-7, 1)
        loss = log_loss(y_val, proba / proba.sum(axis=1, keepdims=True), labels=classes)
        yield epoch, float(loss), float(accuracy_score(y_val, model.predict(x_val)))


def main() -> None:
    args = parse_args()
    data = load_data(args.seed)
    classes = np.unique(data[2])
    ckpt = hbclient.checkpoint_dir() / "model.pkl"
    model, done = restore(ckpt, args)
    if done:
        print(f"resuming from epoch {done} of {args.epochs}")
    rng = np.random.default_rng(args.seed + done)
    steps = train(model, data, classes, args.epochs, rng, done, args.batch_size)
    for epoch, loss, accuracy in steps:
        hbclient.report(step=epoch, loss=loss, accuracy=accuracy)
        with ckpt.open("wb") as f:
            pickle.dump({"model": model, "epoch": epoch}, f)


if __name__ == "__main__":
    main()
