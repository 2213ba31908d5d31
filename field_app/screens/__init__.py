"""One module per screen. Screens read state through AppSession and call its actions;
they never open a socket or a database themselves."""
