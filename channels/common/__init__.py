"""What several channels share, so that no channel imports another: a notice's body as
each app shows it (``bodies``), byte limits and splitting (``limits``), CJK fonts
(``fonts``). A module here imports only the contract, the core's leaf modules and other
modules of this package."""
