#!/usr/bin/env python3
"""
Tests of ktrain text regression

Ported from ktrain's tests/test_textregression.py (``test_linreg``) with only the imports changed. ktrain's wine
prices (``wines.csv``, prepared from floydhub/regression-template) are not in ``../shared/data``; ``setUp`` uses
SST-2 instead (20,000 training rows, seed 42, and the 872 dev rows) with the target 1.0 for positive and 0.0 for
negative. The thresholds are rescaled to that target and relaxed: validation MAE below 0.45 (wines: below 12
dollars, prices averaging about 35; here a constant 0.5 scores 0.5, and linreg on SST-2's short phrases with
trigram features overfits after its first epoch, at about 0.43) and a clearly positive TEST_DOC predicted above
0.5 (wines: a great Champagne above 100 dollars). It trains: slow.
"""
from unittest import TestCase, main, skip

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

import kdemo as ktrain
from kdemo import text as txt

pytestmark = pytest.mark.slow
TEST_DOC = "a gorgeous , witty , seductive movie : a sublime , unforgettable experience"


class TestTextRegression(TestCase):
    def setUp(self):
        import keras

        keras.utils.set_random_seed(0)
        train = pd.read_csv(SHARED_DATA / "sst2" / "train.csv").sample(20000, random_state=42)
        test = pd.read_csv(SHARED_DATA / "sst2" / "test.csv")
        x_train, y_train = train.text.values, (train.label == "positive").values * 1.0
        x_test, y_test = test.text.values, (test.label == "positive").values * 1.0
        self.trn = (x_train, y_train)
        self.val = (x_test, y_test)

    def test_linreg(self):
        trn, val, preproc = txt.texts_from_array(
            x_train=self.trn[0],
            y_train=self.trn[1],
            x_test=self.val[0],
            y_test=self.val[1],
            preprocess_mode="standard",
            ngram_range=3,
            maxlen=200,
            max_features=35000,
        )
        model = txt.text_regression_model("linreg", train_data=trn, preproc=preproc)
        learner = ktrain.get_learner(model, train_data=trn, val_data=val, batch_size=256)
        lr = 0.01
        hist = learner.fit_onecycle(lr, 10)

        # test training results
        self.assertAlmostEqual(max(hist.history["lr"]), lr)
        self.assertLess(min(hist.history["val_mae"]), 0.45)

        # test top losses
        obs = learner.top_losses(n=1, val_data=None)
        self.assertIn(obs[0][0], list(range(len(val[0]))))
        learner.view_top_losses(preproc=preproc, n=1, val_data=None)

        # test weight decay
        self.assertEqual(learner.get_weight_decay(), None)
        learner.set_weight_decay(1e-2)
        self.assertAlmostEqual(learner.get_weight_decay(), 1e-2)

        # test load and save model
        learner.save_model("/tmp/test_model")
        learner.load_model("/tmp/test_model")

        # test predictor
        p = ktrain.get_predictor(learner.model, preproc)
        self.assertGreater(p.predict([TEST_DOC])[0], 0.5)
        p.save("/tmp/test_predictor")
        p = ktrain.load_predictor("/tmp/test_predictor")
        self.assertGreater(p.predict([TEST_DOC])[0], 0.5)
        self.assertIsNone(p.explain(TEST_DOC))


if __name__ == "__main__":
    main()
