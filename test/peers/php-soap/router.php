<?php
/**
 * County permit system: a small PHP SoapServer (WSDL mode, document/literal) that the soap
 * connector's integration tests talk to. Start: PERMITS_DATA_DIR=/tmp/x php -S 127.0.0.1:PORT router.php
 *
 * Paths:
 *   /permits          SOAP 1.1 endpoint (GET ?wsdl serves the WSDL)
 *   /permits12        SOAP 1.2 endpoint (GET ?wsdl serves a soap12-binding WSDL)
 *   /faults, /faults12  same operations, but every write answers with a fault chosen by PermitNumber:
 *                     CLIENT-* -> Client/Sender fault, SERVER-* -> Server/Receiver fault,
 *                     LOCKED-* -> Client fault "RECORD LOCKED by batch job" (tests fault overrides)
 *   /slow             sleeps PERMITS_SLOW_SECONDS (default 30, fractions allowed) and then answers like
 *                     /permits; ?match=TEXT&until=EPOCH_MS: only requests containing TEXT, before then
 *   /secure           like /permits, but requires HTTP basic auth (county:s3cret) and a
 *                     WS-Security UsernameToken (clerk / pa55word, PasswordText or PasswordDigest)
 *   /misbehave?kind=  doctype | entity | malformed | huge | html500 | empty  (XML safety tests)
 *   /health           "ok"
 * Storage: PERMITS_DATA_DIR/permits.json (all values kept as strings), guarded by flock.
 * Every write call is appended to "calls" in the same file so tests can count deliveries.
 */

$dataDir = getenv('PERMITS_DATA_DIR') ?: sys_get_temp_dir();
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$query = [];
parse_str(parse_url($_SERVER['REQUEST_URI'], PHP_URL_QUERY) ?? '', $query);

function with_store(callable $fn) {
    global $dataDir;
    $fh = fopen($dataDir . '/permits.json', 'c+');
    flock($fh, LOCK_EX);
    $raw = stream_get_contents($fh);
    $db = $raw ? json_decode($raw, true) : null;
    if (!is_array($db)) $db = ['seq' => 0, 'permits' => [], 'calls' => []];
    try {
        $result = $fn($db);
    } finally {
        ftruncate($fh, 0);
        rewind($fh);
        fwrite($fh, json_encode($db, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
        fflush($fh);
        flock($fh, LOCK_UN);
        fclose($fh);
    }
    return $result;
}

function find_index(array $db, string $number) {
    foreach ($db['permits'] as $i => $p) if ($p['PermitNumber'] === $number) return $i;
    return -1;
}

const FIELDS = ['Status', 'Address', 'Valuation', 'ParcelId'];

/** Copy the fields present in $in (stdClass or array) into $permit as strings (null stays null). */
function apply_fields(array &$permit, $in) {
    foreach (FIELDS as $f) {
        if (is_object($in) && property_exists($in, $f)) $v = $in->$f;
        elseif (is_array($in) && array_key_exists($f, $in)) $v = $in[$f];
        else continue;
        $permit[$f] = $v === null ? null : (is_float($v) ? sprintf('%.17g', $v) : (string) $v);
    }
}

function to_wire(array $p): array {
    $out = [];
    foreach ($p as $k => $v) if ($v !== null) $out[$k] = $v;
    return $out;
}

class CountyPermits {
    public function InsertPermit($in) {
        $permit = $in->Permit;
        $number = (string) $permit->PermitNumber;
        return with_store(function (&$db) use ($permit, $number) {
            $db['calls'][] = ['op' => 'InsertPermit', 'PermitNumber' => $number, 'auth' => $GLOBALS['wsseOk'] ?? null];
            if (find_index($db, $number) >= 0) throw new SoapFault('Client', "permit $number already exists");
            $row = ['PermitNumber' => $number];
            apply_fields($row, $permit);
            $row['Seq'] = (string) (++$db['seq']);
            $db['permits'][] = $row;
            return ['Result' => 'INSERTED', 'Seq' => $row['Seq']];
        });
    }

    public function UpdatePermit($in) {
        $number = (string) $in->PermitNumber;
        return with_store(function (&$db) use ($in, $number) {
            $db['calls'][] = ['op' => 'UpdatePermit', 'PermitNumber' => $number];
            $i = find_index($db, $number);
            if ($i < 0) throw new SoapFault('Client', "permit $number does not exist");
            apply_fields($db['permits'][$i], $in);
            $db['permits'][$i]['Seq'] = (string) (++$db['seq']);
            return ['Result' => 'UPDATED', 'Seq' => $db['permits'][$i]['Seq']];
        });
    }

    /** The seed's message: <PermitUpdate><PermitNumber>123</PermitNumber><Field name="status">APPROVED</Field></PermitUpdate> */
    public function PermitUpdate($in) {
        $number = (string) $in->PermitNumber;
        $fields = [];
        $list = isset($in->Field) ? (is_array($in->Field) ? $in->Field : [$in->Field]) : [];
        foreach ($list as $f) $fields[(string) $f->name] = isset($f->_) ? (string) $f->_ : '';
        return with_store(function (&$db) use ($number, $fields) {
            $db['calls'][] = ['op' => 'PermitUpdate', 'PermitNumber' => $number, 'fields' => $fields];
            $i = find_index($db, $number);
            if ($i < 0) {
                $db['permits'][] = ['PermitNumber' => $number];
                $i = count($db['permits']) - 1;
            }
            foreach ($fields as $name => $value) $db['permits'][$i][$name] = $value;
            $db['permits'][$i]['Seq'] = (string) (++$db['seq']);
            return ['Result' => 'UPDATED', 'Seq' => $db['permits'][$i]['Seq']];
        });
    }

    public function DeletePermit($in) {
        $number = (string) $in->PermitNumber;
        return with_store(function (&$db) use ($number) {
            $db['calls'][] = ['op' => 'DeletePermit', 'PermitNumber' => $number];
            $i = find_index($db, $number);
            if ($i < 0) return ['Result' => 'ABSENT'];
            array_splice($db['permits'], $i, 1);
            $db['seq']++;
            return ['Result' => 'DELETED'];
        });
    }

    public function GetPermits($in) {
        $since = isset($in->Since) ? (int) $in->Since : null;
        $page = isset($in->Page) ? max(1, (int) $in->Page) : 1;
        $size = isset($in->PageSize) ? max(1, (int) $in->PageSize) : 50;
        return with_store(function (&$db) use ($since, $page, $size) {
            $rows = array_values(array_filter($db['permits'], fn ($p) => $since === null || (int) $p['Seq'] > $since));
            usort($rows, fn ($a, $b) => (int) $a['Seq'] <=> (int) $b['Seq']);
            $slice = array_slice($rows, ($page - 1) * $size, $size);
            $out = ['Permits' => ['Permit' => array_map('to_wire', $slice)]];
            if (count($rows) > $page * $size) $out['NextPage'] = $page + 1;
            return $out;
        });
    }

    public function GetPermit($in) {
        $number = (string) $in->PermitNumber;
        return with_store(function (&$db) use ($number) {
            $i = find_index($db, $number);
            return $i < 0 ? [] : ['Permit' => to_wire($db['permits'][$i])];
        });
    }
}

/** Writes answer with faults chosen by the permit number; reads behave normally. */
class FaultyPermits extends CountyPermits {
    private function fault($in) {
        $number = (string) ($in->PermitNumber ?? ($in->Permit->PermitNumber ?? ''));
        if (str_starts_with($number, 'CLIENT')) throw new SoapFault('Client', "permit number $number is not valid for this county");
        if (str_starts_with($number, 'LOCKED')) throw new SoapFault('Client', "RECORD LOCKED by batch job NIGHTLY-07 for permit $number");
        if (str_starts_with($number, 'SERVER')) throw new SoapFault('Server', 'COBOL region CICS-3 unavailable <try later> & retry');
        return null;
    }
    public function InsertPermit($in) { return $this->fault($in) ?? parent::InsertPermit($in); }
    public function UpdatePermit($in) { return $this->fault($in) ?? parent::UpdatePermit($in); }
    public function DeletePermit($in) { return $this->fault($in) ?? parent::DeletePermit($in); }
    public function PermitUpdate($in) { return $this->fault($in) ?? parent::PermitUpdate($in); }
}

/** Checks the WS-Security UsernameToken header (PasswordText or PasswordDigest). */
class SecurePermits extends CountyPermits {
    public function Security($header) {
        // PHP hands over untyped header elements as plain strings (the Type attribute is
        // dropped), so PasswordText is recognised by value and PasswordDigest by recomputing it.
        $t = $header->UsernameToken ?? null;
        if (!$t || ($t->Username ?? '') !== 'clerk') throw new SoapFault('Client', 'WS-Security: unknown user');
        $value = (string) $t->Password;
        if ($value === 'pa55word') {
            $GLOBALS['wsseOk'] = 'text';
            return;
        }
        if (isset($t->Nonce, $t->Created)) {
            $expected = base64_encode(sha1(base64_decode((string) $t->Nonce) . (string) $t->Created . 'pa55word', true));
            if (hash_equals($expected, $value)) {
                $GLOBALS['wsseOk'] = 'digest';
                return;
            }
        }
        throw new SoapFault('Client', 'WS-Security: bad password');
    }
    private function need() {
        if (!isset($GLOBALS['wsseOk'])) throw new SoapFault('Client', 'WS-Security header missing');
    }
    public function UpdatePermit($in) { $this->need(); return parent::UpdatePermit($in); }
    public function InsertPermit($in) { $this->need(); return parent::InsertPermit($in); }
}

function wsdl_for(string $endpoint, bool $soap12): string {
    global $dataDir;
    $xml = file_get_contents(__DIR__ . '/permits.wsdl');
    $xml = str_replace('LOCATION', htmlspecialchars($endpoint, ENT_XML1), $xml);
    if ($soap12) $xml = str_replace('http://schemas.xmlsoap.org/wsdl/soap/', 'http://schemas.xmlsoap.org/wsdl/soap12/', $xml);
    $file = $dataDir . '/permits' . ($soap12 ? '12' : '') . '.wsdl';
    // several PHP workers serve requests at once: write a temporary file and rename it, so a
    // reader never sees a half-written WSDL
    if (@file_get_contents($file) !== $xml) {
        $tmp = $file . '.' . getmypid() . '.tmp';
        file_put_contents($tmp, $xml);
        rename($tmp, $file);
    }
    return $file;
}

function misbehave(string $kind) {
    $env = '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>%s</soap:Body></soap:Envelope>';
    header('Content-Type: text/xml; charset=utf-8');
    switch ($kind) {
        case 'doctype':
            echo '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
                . sprintf(substr($env, strlen('<?xml version="1.0"?>')), '<ResultResponse xmlns="urn:county:permits"><Result>&lol2;</Result></ResultResponse>');
            return;
        case 'entity':
            echo sprintf($env, '<ResultResponse xmlns="urn:county:permits"><Result>&xxe;</Result></ResultResponse>');
            return;
        case 'malformed':
            echo sprintf($env, '<ResultResponse xmlns="urn:county:permits"><Result>UPDATED</Resul></ResultResponse>');
            return;
        case 'huge':
            echo sprintf($env, '<ResultResponse xmlns="urn:county:permits"><Result>' . str_repeat('A', 2 * 1024 * 1024) . '</Result></ResultResponse>');
            return;
        case 'html500':
            http_response_code(502);
            header('Content-Type: text/html');
            echo '<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>';
            return;
        case 'empty':
            return;
        case 'deep':
            // a GetPermits answer whose second permit carries a note nested 10,000 elements deep
            $permit = fn ($n, $extra = '') => "<Permit><PermitNumber>$n</PermitNumber><Status>ISSUED</Status>$extra</Permit>";
            $deep = '<Notes>' . str_repeat('<n>', 10000) . 'bottom' . str_repeat('</n>', 10000) . '</Notes>';
            echo sprintf($env, '<GetPermitsResponse xmlns="urn:county:permits"><Permits>' . $permit('D-1') . $permit('D-2', $deep) . $permit('D-3') . '</Permits></GetPermitsResponse>');
            return;
    }
    http_response_code(404);
}

$soap12 = str_ends_with($path, '12');
$endpointPath = $path;
$base = 'http://' . $_SERVER['HTTP_HOST'];

switch ($path) {
    case '/health':
        echo 'ok';
        return;
    case '/misbehave':
        misbehave($query['kind'] ?? '');
        return;
    case '/slow':
        // ?match=TEXT&until=EPOCH_MS: only a request whose body contains TEXT, and only before
        // that time, is slow (a service slow for one record for a while); it is applied after the
        // sleep even when the client has gone away, as a real service does
        $slow = !isset($query['match']) || (str_contains(file_get_contents('php://input'), $query['match'])
            && (!isset($query['until']) || microtime(true) * 1000 < (float) $query['until']));
        if ($slow) usleep((int) round((float) (getenv('PERMITS_SLOW_SECONDS') ?: 30) * 1e6));
        // fall through: answer like /permits
    case '/permits':
    case '/permits12':
    case '/faults':
    case '/faults12':
    case '/secure':
        break;
    default:
        http_response_code(404);
        echo "no such path: $path";
        return;
}

$wsdl = wsdl_for($base . $endpointPath, $soap12);
if ($_SERVER['REQUEST_METHOD'] === 'GET') {
    header('Content-Type: text/xml; charset=utf-8');
    readfile($wsdl);
    return;
}
if ($path === '/secure') {
    if (($_SERVER['PHP_AUTH_USER'] ?? '') !== 'county' || ($_SERVER['PHP_AUTH_PW'] ?? '') !== 's3cret') {
        http_response_code(401);
        header('WWW-Authenticate: Basic realm="county"');
        echo 'authentication required';
        return;
    }
}
$class = str_starts_with($path, '/faults') ? 'FaultyPermits' : ($path === '/secure' ? 'SecurePermits' : 'CountyPermits');
$server = new SoapServer($wsdl, ['soap_version' => $soap12 ? SOAP_1_2 : SOAP_1_1, 'cache_wsdl' => WSDL_CACHE_NONE]);
$server->setClass($class);
$server->handle();
