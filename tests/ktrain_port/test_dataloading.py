#!/usr/bin/env python3
"""
Tests of ktrain text classification flows

Ported from ktrain's tests/test_dataloading.py (TestTextData) with only the imports changed (``ktrain`` ->
``kdemo``; ``testenv`` and ``ktrain.vision`` are not needed); the resources are recreated under ``resources/``.
"""
import os.path
from unittest import TestCase, main, skip

import kdemo as ktrain
from kdemo import text as txt
from kdemo import utils as U

CURRDIR = os.path.dirname(__file__)


def texts_from_folder(preprocess_mode="standard"):
    DATADIR = os.path.join(CURRDIR, "resources/text_data/text_folder")
    trn, val, preproc = txt.texts_from_folder(
        DATADIR,
        max_features=100,
        maxlen=10,
        ngram_range=3,
        classes=["pos", "neg"],
        train_test_names=["train", "test"],
        preprocess_mode=preprocess_mode,
    )

    return (trn, val, preproc)


def texts_from_csv(preprocess_mode="standard"):
    DATA_PATH = os.path.join(CURRDIR, "resources/text_data/texts.csv")
    trn, val, preproc = txt.texts_from_csv(
        DATA_PATH,
        "text",
        val_filepath=DATA_PATH,
        label_columns=["neg", "pos"],
        max_features=100,
        maxlen=10,
        ngram_range=3,
        preprocess_mode=preprocess_mode,
    )
    return (trn, val, preproc)


def texts_from_csv_string(preprocess_mode="standard"):
    DATA_PATH = os.path.join(CURRDIR, "resources/text_data/texts-strings.csv")
    trn, val, preproc = txt.texts_from_csv(
        DATA_PATH,
        "text",
        val_filepath=DATA_PATH,
        label_columns="label",
        max_features=100,
        maxlen=10,
        ngram_range=3,
        preprocess_mode=preprocess_mode,
    )
    return (trn, val, preproc)


def texts_from_csv_int(preprocess_mode="standard"):
    DATA_PATH = os.path.join(CURRDIR, "resources/text_data/texts-ints.csv")
    trn, val, preproc = txt.texts_from_csv(
        DATA_PATH,
        "text",
        val_filepath=DATA_PATH,
        label_columns=["label"],
        max_features=100,
        maxlen=10,
        ngram_range=3,
        preprocess_mode=preprocess_mode,
    )
    return (trn, val, preproc)


class TestTextData(TestCase):
    def test_texts_from_folder_standard(self):
        (trn, val, preproc) = texts_from_folder()
        self.__test_texts_standard(trn, val, preproc)

    def test_texts_from_csv_standard(self):
        (trn, val, preproc) = texts_from_csv()
        self.__test_texts_standard(trn, val, preproc)

    def test_texts_from_csv_string_standard(self):
        (trn, val, preproc) = texts_from_csv_string()
        self.__test_texts_standard(trn, val, preproc)

    def test_texts_from_csv_int_standard(self):
        (trn, val, preproc) = texts_from_csv_int()
        self.__test_texts_standard(trn, val, preproc)

    def test_texts_from_folder_bert(self):
        (trn, val, preproc) = texts_from_folder(preprocess_mode="bert")
        self.__test_texts_bert(trn, val, preproc)

    def test_texts_from_csv_bert(self):
        (trn, val, preproc) = texts_from_csv(preprocess_mode="bert")
        self.__test_texts_bert(trn, val, preproc)

    def test_texts_from_csv_string_bert(self):
        (trn, val, preproc) = texts_from_csv_string(preprocess_mode="bert")
        self.__test_texts_bert(trn, val, preproc)

    def test_texts_from_csv_int_bert(self):
        (trn, val, preproc) = texts_from_csv_int(preprocess_mode="bert")
        self.__test_texts_bert(trn, val, preproc)

    def __test_texts_standard(self, trn, val, preproc):
        self.assertFalse(U.is_iter(trn))
        self.assertEqual(trn[0].shape, (4, 10))
        self.assertEqual(trn[1].shape, (4, 2))
        self.assertEqual(val[0].shape, (4, 10))
        self.assertEqual(val[1].shape, (4, 2))
        self.assertFalse(U.is_multilabel(trn))
        self.assertEqual(U.shape_from_data(trn), (4, 10))
        self.assertFalse(U.ondisk(trn))
        self.assertEqual(U.nsamples_from_data(trn), 4)
        self.assertEqual(U.nclasses_from_data(trn), 2)
        self.assertEqual(U.y_from_data(trn).shape, (4, 2))
        self.assertFalse(U.bert_data_tuple(trn))
        self.assertEqual(preproc.get_classes(), preproc.get_classes())
        self.assertEqual(preproc.ngram_count(), 3)
        self.assertEqual(preproc.preprocess(["hello book"])[0][-1], 1)
        self.assertEqual(preproc.preprocess(["hello book"]).shape, (1, 10))
        self.assertEqual(preproc.undo(val[0][0]), "the book is bad")

    def __test_texts_bert(self, trn, val, preproc):
        self.assertFalse(U.is_iter(trn))
        self.assertEqual(trn[0][0].shape, (4, 10))
        self.assertEqual(trn[1].shape, (4, 2))
        self.assertEqual(val[0][0].shape, (4, 10))
        self.assertEqual(val[1].shape, (4, 2))
        self.assertFalse(U.is_multilabel(trn))
        self.assertEqual(U.shape_from_data(trn), (4, 10))
        self.assertFalse(U.ondisk(trn))
        self.assertEqual(U.nsamples_from_data(trn), 4)
        self.assertEqual(U.nclasses_from_data(trn), 2)
        self.assertEqual(U.y_from_data(trn).shape, (4, 2))
        self.assertTrue(U.bert_data_tuple(trn))
        self.assertEqual(preproc.get_classes(), preproc.get_classes())
        self.assertEqual(preproc.preprocess(["hello book"])[0][0][0], 101)
        self.assertEqual(preproc.preprocess(["hello book"])[0].shape, (1, 10))
        self.assertEqual(preproc.undo(val[0][0][0]), "[CLS] the book is bad . [SEP]")


if __name__ == "__main__":
    main()
