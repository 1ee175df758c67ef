      * A text record (only DISPLAY fields) of a LINE SEQUENTIAL file.
      * Read by lines.cbl (COPY) and by the hms-sync copybook parser.
       01  LINE-REC.
           05  L-ID            PIC 9(4).
           05  L-NAME          PIC X(10).
           05  L-AMT           PIC S9(5)V99.
           05  L-QTY           PIC S9(3) SIGN LEADING SEPARATE.
           05  L-RATE          PIC S9V9(3) SIGN TRAILING SEPARATE.
           05  L-NOTE          PIC X(8).
