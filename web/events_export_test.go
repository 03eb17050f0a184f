package web_test

import "gatehouse/handlers"

func handlersEventMaxBody() int { return handlers.EventMaxBody }
