// The Node.js client of spec/websocket-protocol.md ("Client Examples"), run against the daemon.
// The class is the document's code as written. The document's usage sends before the socket
// is open, which the `ws` package refuses ("WebSocket is not open"), so the driver waits for
// 'open' first; then it asks every request type and prints one JSON line per reply.
const WebSocket = require('ws');

class SysMedicClient {
    constructor(wsUrl) {
        this.ws = new WebSocket(wsUrl);
        this.requestCounter = 0;
        this.pendingRequests = new Map();
        
        this.ws.on('message', (data) => {
            this.handleMessage(JSON.parse(data));
        });
    }
    
    sendRequest(type, data = null) {
        const requestId = `req_${++this.requestCounter}_${Date.now()}`;
        const request = { type, request_id: requestId, data };
        
        this.ws.send(JSON.stringify(request));
        
        return new Promise((resolve) => {
            this.pendingRequests.set(requestId, resolve);
        });
    }
    
    handleMessage(message) {
        if (message.request_id && this.pendingRequests.has(message.request_id)) {
            const resolve = this.pendingRequests.get(message.request_id);
            this.pendingRequests.delete(message.request_id);
            resolve(message);
        } else {
            console.log('Real-time update:', message);
        }
    }
}

// Usage
const client = new SysMedicClient(process.argv[2]);

client.ws.on('error', (err) => { console.error(String(err)); process.exit(2); });
client.ws.on('open', async () => {
    for (const type of ['get_system_info', 'get_alerts', 'get_user_metrics', 'get_config', 'ping']) {
        const reply = await client.sendRequest(type);
        console.log('REPLY ' + JSON.stringify(reply));
    }
    client.ws.close();
});
