"""kdemo web app (also the Hugging Face Spaces entry point): python app.py [--host H] [--port P] [--share]."""

import kdemo  # noqa: F401  (sets KERAS_BACKEND=torch before Keras loads)
from kdemo.ui import main

if __name__ == "__main__":
    main()
