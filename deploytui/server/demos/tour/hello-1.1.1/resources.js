// A demo Harper resource: GET /Greeting returns a greeting.
export class Greeting extends Resource {
	get() {
		return { greeting: 'Hello from a deploytui demo' };
	}
}
