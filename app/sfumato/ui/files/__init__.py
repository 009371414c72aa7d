"""Files: the document lifecycle (new, open, import, paste, drops, save, export, recent
files, autosave timer), its dialogs, and files the desktop hands over."""
